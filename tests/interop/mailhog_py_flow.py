"""A test flow with the PyPI client `mailhog` (nklsw/mailhog-python), unmodified: it reads
MailHog's JSON into strict dataclasses, so every key must be there in MailHog's shape.
Sends its own mail over SMTP (as the application under test would), then lists, searches
and deletes. MAILHOG_HOST, MAILHOG_PORT: the API; SMTP: host:port of the sink."""

import os
import smtplib
from email.message import EmailMessage

from mailhog import Mailhog

mh = Mailhog(host=os.environ["MAILHOG_HOST"], port=int(os.environ["MAILHOG_PORT"]))
mh.delete_all()
assert mh.messages().count == 0

msg = EmailMessage()
msg["From"] = "app@example.com"
msg["To"] = "dana@example.com"
msg["Subject"] = "Password reset"
msg.set_content("Reset: https://app.example.com/reset?token=t1\n")
host, port = os.environ["SMTP"].rsplit(":", 1)
with smtplib.SMTP(host, int(port)) as smtp:
    smtp.send_message(msg)

found = mh.search("dana@example.com", "to")
assert found.count == 1, found
message = found.items[0]
assert message.get_subject() == "Password reset", message.get_subject()
assert message.get_sender() == "app@example.com"
assert message.get_recipients() == ["dana@example.com"]
assert "token=t1" in message.content.body
assert mh.search("token=t1").count == 1
mh.delete(message)
assert mh.messages().count == 0
print("ok")

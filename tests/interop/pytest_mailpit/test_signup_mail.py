"""A team's pytest suite for its sign-up mail, written for Mailpit with the `pytest-mailpit`
plugin and run unchanged against mailtest's Mailpit API: only MAILPIT_URL and MAILPIT_SMTP
point elsewhere. The "application" here sends its mail with smtplib, as a Django or Flask
app would through its SMTP backend."""

import smtplib
from email.message import EmailMessage


def send_signup_mail(smtp, to):
    msg = EmailMessage()
    msg["From"] = "Acme <no-reply@acme.example>"
    msg["To"] = to
    msg["Subject"] = "Confirm your Acme account"
    msg.set_content("Your code is 482913.\nConfirm: https://acme.example/confirm?token=abc\n")
    msg.add_alternative(
        '<p>Your code is <b>482913</b>.</p><p><a href="https://acme.example/confirm?token=abc">'
        "Confirm</a></p>",
        subtype="html",
    )
    msg.add_attachment(b"terms v2\n", maintype="text", subtype="plain", filename="terms.txt")
    with smtplib.SMTP(smtp.host, smtp.port) as server:
        server.send_message(msg)


def test_signup_mail_carries_code_link_and_terms(mailpit, mailpit_inbox, mailpit_smtp):
    send_signup_mail(mailpit_smtp, mailpit_inbox.address)
    message = mailpit_inbox.wait_for_message(subject="Confirm your Acme account")
    assert message.sender.address == "no-reply@acme.example"
    assert message.code() == "482913"
    assert message.link("/confirm") == "https://acme.example/confirm?token=abc"
    [terms] = message.attachments
    assert terms.file_name == "terms.txt"
    assert mailpit.get_attachment(terms) == b"terms v2\n"
    assert mailpit.get_headers(message.id)["Subject"] == ["Confirm your Acme account"]
    assert b"Subject: Confirm your Acme account" in mailpit.get_raw(message.id)


def test_no_mail_for_an_unknown_address(mailpit, mailpit_inbox):
    mailpit_inbox.assert_no_message(within=1)


def test_search_tags_and_read_state(mailpit, mailpit_inbox, mailpit_smtp):
    send_signup_mail(mailpit_smtp, mailpit_inbox.address)
    message = mailpit_inbox.wait_for_message()
    mailpit.set_tags([message.id], ["signup"])
    page = mailpit.search(f'tag:signup to:"{mailpit_inbox.address}"')
    assert [m.id for m in page.messages] == [message.id]
    mailpit.mark_read([message.id], read=False)
    assert mailpit.search(f'is:unread to:"{mailpit_inbox.address}"').messages_count == 1


def test_the_app_sees_a_temporary_failure_and_retries(mailpit, mailpit_inbox, mailpit_smtp, mailpit_chaos):
    mailpit_chaos.reject_recipients(451, probability=100)
    try:
        send_signup_mail(mailpit_smtp, mailpit_inbox.address)
        raise AssertionError("the first try should fail")
    except smtplib.SMTPRecipientsRefused as refused:
        [(code, _)] = refused.recipients.values()
        assert code == 451
    assert mailpit.chaos().recipient.error_code == 451
    mailpit_chaos.reset()
    send_signup_mail(mailpit_smtp, mailpit_inbox.address)
    assert mailpit_inbox.wait_for_message().subject == "Confirm your Acme account"

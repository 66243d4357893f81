"""A reference Celery app: the notification tasks mailtest's Celery tests run against, and an
example of the systems it tests. Each task renders a small email and sends it over SMTP (to
mailtest's sink in tests), as a FastAPI backend's worker does.

Configured from the environment only:
  CELERY_BROKER_URL      confluentkafka://127.0.0.1:9092 or amqp://guest@127.0.0.1:5672//
  CELERY_RESULT_BACKEND  redis://127.0.0.1:6379/0
  MAIL_SMTP              host:port of the SMTP server (mailtest sink: 127.0.0.1:1025)

Run: celery -A tasks worker --pool solo --loglevel INFO   (from this folder)
"""

import os
import smtplib
from email.message import EmailMessage

from celery import Celery

app = Celery(
    "notifications",
    broker=os.environ.get("CELERY_BROKER_URL", "confluentkafka://127.0.0.1:9092"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/0"),
)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    broker_connection_retry_on_startup=True,
)

SENDER = "Example App <no-reply@example.com>"


def send(to, subject, text, task_id):
    """Sends one email, with the task id in a header so a test can tie mail to task."""
    host, _, port = os.environ.get("MAIL_SMTP", "127.0.0.1:1025").rpartition(":")
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["X-Celery-Task-Id"] = task_id
    message.set_content(text)
    with smtplib.SMTP(host, int(port), timeout=30) as smtp:
        smtp.send_message(message)


@app.task(bind=True, name="app.tasks.send_welcome_email_task")
def send_welcome_email_task(self, email, username, dashboard_link=""):
    send(email, f"Welcome, {username}!", f"Hi {username},\n\nYour dashboard: {dashboard_link}\n", self.request.id)
    return {"sent_to": email}


@app.task(bind=True, name="app.tasks.send_order_confirmation_task")
def send_order_confirmation_task(self, email, order_id, total=None, currency=""):
    send(email, f"Order {order_id} confirmed", f"Thank you for order {order_id}: {total} {currency}\n", self.request.id)
    return {"sent_to": email, "order_id": order_id}


@app.task(bind=True, name="app.tasks.send_verification_email")
def send_verification_email(self, email, username, link):
    send(email, "Verify your email address", f"Hi {username},\n\nVerify here: {link}\n", self.request.id)
    return {"sent_to": email}


@app.task(bind=True, name="app.tasks.send_password_reset_email")
def send_password_reset_email(self, email, link):
    if "fail" in email:
        raise ValueError(f"no account for {email}")
    send(email, "Reset your password", f"Reset it here: {link}\n", self.request.id)
    return {"sent_to": email}


@app.task(bind=True, name="app.tasks.send_role_upgrade_email")
def send_role_upgrade_email(self, email, username, new_role, permissions=None):
    can = ", ".join(permissions or [])
    send(email, f"You are now {new_role}", f"Hi {username},\n\nYou can now: {can}\n", self.request.id)
    return {"sent_to": email, "role": new_role}


@app.task(bind=True, name="app.tasks.send_email_task")
def send_email_task(self, to, subject, body):
    """The generic task a backend's test-email endpoint enqueues."""
    send(to, subject, body, self.request.id)
    return {"sent_to": to}

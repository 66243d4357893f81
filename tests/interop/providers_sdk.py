"""The email providers' official SDKs, unmodified, pointed at mailtest's sink by the endpoint
setting each documents: boto3's `endpoint_url` (sesv2, ses), sendgrid's `host`,
postmarker's `root_api_url`, resend's `api_url`, mailgun's `api_url`. Prints one JSON object with what each SDK saw.

  python providers_sdk.py send URL       each SDK sends text, HTML, an attachment, CC and BCC
  python providers_sdk.py throttle URL   each SDK's error when the sink throttles
"""

import base64
import json
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment, Bcc, Category, Cc, CustomArg, Mail
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError as PostmarkError
import resend
from mailgun.client import Client as MailgunClient
from mailgun.config import RetryPolicy

mode, url = sys.argv[1], sys.argv[2]
# One attempt: botocore's standard mode would retry a throttled send twice more.
ses = boto3.client(
    "sesv2",
    endpoint_url=url,
    region_name="eu-west-1",
    aws_access_key_id="AKIAMAILTEST",
    aws_secret_access_key="not-a-secret",
    config=Config(retries={"total_max_attempts": 1}),
)
ses_v1 = boto3.client(
    "ses",
    endpoint_url=url,
    region_name="eu-west-1",
    aws_access_key_id="AKIAMAILTEST",
    aws_secret_access_key="not-a-secret",
    config=Config(retries={"total_max_attempts": 1}),
)
sendgrid = SendGridAPIClient("SG.mailtest-key", host=url)
postmark = PostmarkClient(server_token="pm-mailtest-token", root_api_url=url + "/")
resend.api_key = "re_mailtest_key"
resend.api_url = url
PDF = b"%PDF-1.4 receipt"
# No retries: mailgun's default policy would retry a throttled send three times.
mailgun = MailgunClient(auth=("api", "key-mailtest"), api_url=url, retry_policy=RetryPolicy(max_retries=0))


def ses_simple():
    return ses.send_email(
        FromEmailAddress="Shop <shop@example.com>",
        Destination={
            "ToAddresses": ["ann@example.com"],
            "CcAddresses": ["cc@example.com"],
            "BccAddresses": ["audit@example.com"],
        },
        Content={
            "Simple": {
                "Subject": {"Data": "Your receipt (SES)"},
                "Body": {"Text": {"Data": "Thanks!"}, "Html": {"Data": "<p>Thanks!</p>"}},
                "Attachments": [
                    {"FileName": "receipt.pdf", "RawContent": b"%PDF-1.4 receipt", "ContentType": "application/pdf"}
                ],
            }
        },
        EmailTags=[{"Name": "flow", "Value": "receipt"}],
        ConfigurationSetName="transactional",
    )


def ses_raw():
    raw = (
        b"From: shop@example.com\r\nTo: raw@example.com\r\nSubject: Raw (SES)\r\n"
        b"Message-ID: <raw-1@example.com>\r\n\r\nsent whole\r\n"
    )
    return ses.send_email(Content={"Raw": {"Data": raw}})


def ses_v1_mail():
    return ses_v1.send_email(
        Source="shop@example.com",
        Destination={"ToAddresses": ["eve@example.com"], "BccAddresses": ["audit@example.com"]},
        Message={"Subject": {"Data": "Your receipt (SES v1)"}, "Body": {"Text": {"Data": "Thanks!"}}},
        Tags=[{"Name": "flow", "Value": "receipt"}],
    )


def sendgrid_mail():
    mail = Mail(
        from_email="shop@example.com",
        to_emails="bob@example.com",
        subject="Your receipt (SendGrid)",
        plain_text_content="Thanks!",
        html_content="<p>Thanks!</p>",
    )
    mail.add_cc(Cc("cc@example.com"))
    mail.add_bcc(Bcc("audit@example.com"))
    mail.attachment = Attachment(
        file_content=base64.b64encode(b"%PDF-1.4 receipt").decode(),
        file_name="receipt.pdf",
        file_type="application/pdf",
        disposition="attachment",
    )
    mail.category = Category("receipt")
    mail.custom_arg = CustomArg("order_id", "ORD-7")
    return sendgrid.send(mail)


def postmark_mail():
    return postmark.emails.send(
        From="Shop <shop@example.com>",
        To="carol@example.com",
        Cc="cc@example.com",
        Bcc="audit@example.com",
        Subject="Your receipt (Postmark)",
        TextBody="Thanks!",
        HtmlBody="<p>Thanks!</p>",
        Tag="receipt",
        Metadata={"order_id": "ORD-7"},
        Attachments=[{"Name": "receipt.pdf", "Content": base64.b64encode(PDF).decode(), "ContentType": "application/pdf"}],
    )


def resend_mail():
    return resend.Emails.send({
        "from": "Shop <shop@example.com>",
        "to": ["dan@example.com"],
        "cc": "cc@example.com",
        "bcc": ["audit@example.com"],
        "subject": "Your receipt (Resend)",
        "text": "Thanks!",
        "html": "<p>Thanks!</p>",
        "tags": [{"name": "flow", "value": "receipt"}],
        "attachments": [{"filename": "receipt.pdf", "content": list(PDF), "content_type": "application/pdf"}],
    })


def mailgun_mail():
    return mailgun.messages.create(
        data={
            "from": "Shop <shop@example.com>",
            "to": ["frank@example.com"],
            "cc": "cc@example.com",
            "bcc": "audit@example.com",
            "subject": "Your receipt (Mailgun)",
            "text": "Thanks!",
            "html": "<p>Thanks!</p>",
            "o:tag": ["receipt", "transactional"],
            "h:X-Order": "ORD-7",
            "v:order_id": "ORD-7",
        },
        files=[("attachment", ("receipt.pdf", PDF, "application/pdf"))],
        domain="mg.example.com",
    )


if mode == "send":
    simple, raw, sent = ses_simple(), ses_raw(), sendgrid_mail()
    print(json.dumps({
        "ses": simple["MessageId"],
        "ses_raw": raw["MessageId"],
        "ses_v1": ses_v1_mail()["MessageId"],
        "ses_v1_raw": ses_v1.send_raw_email(RawMessage={"Data": b"From: shop@example.com\r\nTo: raw1@example.com\r\nSubject: Raw (SES v1)\r\n\r\nwhole\r\n"})["MessageId"],
        "sendgrid": [sent.status_code, sent.headers.get("X-Message-Id")],
        "postmark": postmark_mail(),
        "resend": resend_mail(),
        "mailgun": mailgun_mail().json(),
    }))
elif mode == "throttle":
    seen = {}
    try:
        ses_simple()
    except ClientError as e:
        seen["ses"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    try:
        ses_v1_mail()
    except ClientError as e:
        seen["ses_v1"] = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    try:
        sendgrid_mail()
    except HTTPError as e:
        seen["sendgrid"] = [type(e).__name__, e.status_code, e.headers.get("X-RateLimit-Remaining")]
    try:
        postmark_mail()
    except PostmarkError as e:
        seen["postmark"] = [type(e).__name__, e.error_code]
    try:
        resend_mail()
    except resend.exceptions.ResendError as e:
        seen["resend"] = [type(e).__name__, e.code, e.error_type]
    throttled = mailgun_mail()
    seen["mailgun"] = [throttled.status_code, throttled.json()["message"]]
    print(json.dumps(seen))

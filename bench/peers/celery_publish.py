"""The peer for bench/celery.sh: Celery's own client publishing the same task N times to
RabbitMQ, as a backend enqueues mail (`send_task`, JSON). With `confirm` it waits for the
broker's confirm of each publish (kombu's `confirm_publish`, one at a time), as mailtest
confirms every task; with `noconfirm` it does not. Prints tasks per second.
   python celery_publish.py AMQP_URL N confirm|noconfirm"""
import sys
import time

from celery import Celery

url, n, confirm = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "confirm"
app = Celery("bench", broker=url)
app.conf.update(task_serializer="json", broker_transport_options={"confirm_publish": confirm})
args = ["ann@example.com", "ann42"]
kwargs = {"dashboard_link": "https://app.example.com/dashboard"}
with app.producer_or_acquire() as producer:
    app.send_task("app.tasks.send_welcome_email_task", args, kwargs, producer=producer)  # warm up
    start = time.perf_counter()
    for _ in range(n):
        app.send_task("app.tasks.send_welcome_email_task", args, kwargs, producer=producer)
    elapsed = time.perf_counter() - start
print(f"{n / elapsed:.1f}")

"""A storing peer for bench/sink.sh: aiosmtpd writing each message to its own file."""
import asyncio
import os
import sys
import uuid

from aiosmtpd.controller import Controller


class FileHandler:
    def __init__(self, folder):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.folder, uuid.uuid4().hex + ".eml")
        with open(path, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        return "250 OK"


if __name__ == "__main__":
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(FileHandler(folder), hostname=host, port=port, data_size_limit=0)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()

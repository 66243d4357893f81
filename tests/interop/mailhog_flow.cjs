// A test flow as a team writes it against MailHog, with blueimp's npm client `mailhog`
// (unmodified, configured only with host and port): clear, poll for mail sent after the
// flow began, read subject, text, HTML and attachments (the client decodes MailHog's raw
// bodies and headers itself), search, delete. Prints `waiting` once it polls, then one
// JSON line of what it saw.
//   MAILHOG=http://127.0.0.1:8025 node mailhog_flow.cjs
const assert = require("node:assert/strict");
const { hostname, port } = new URL(process.env.MAILHOG);
const mailhog = require("mailhog")({ host: hostname, port: Number(port) });

const poll = async (find) => {
  for (let i = 0; i < 200; i++) {
    const found = await find();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("no mail within 20 s");
};

(async () => {
  await mailhog.deleteAll();
  assert.equal((await mailhog.messages()).count, 0);
  console.log("waiting");
  const order = await poll(() => mailhog.latestTo("alice@example.com"));
  assert.equal(order.subject, "Ihre Bestellung ✓");
  assert.equal(order.from, "Shop <shop@example.com>");
  assert.match(order.text, /Danke für Ihre Bestellung ✓/);
  assert.match(order.html, /<b>Danke<\/b>/);
  const receipt = await poll(() => mailhog.latestTo("bob@example.com"));
  const [file] = receipt.attachments;
  assert.equal(file.name, "receipt.txt");
  assert.equal(mailhog.decode(file.Body, file.encoding), "total: 42.00");

  const all = await mailhog.messages();
  assert.equal(all.count, 2);
  assert.equal(all.items[0].ID, receipt.ID, "newest first");
  assert.equal((await mailhog.search("Bestellung")).count, 1);
  assert.equal((await mailhog.search("shop@example.com", "from")).count, 2);
  assert.equal((await mailhog.latestContaining("no such words")), 0);

  await mailhog.deleteMessage(order.ID);
  assert.equal((await mailhog.messages()).count, 1);
  await mailhog.deleteAll();
  assert.equal((await mailhog.messages()).count, 0);
  console.log(JSON.stringify({ order: order.ID, receipt: receipt.ID }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

// A test flow as a team writes it against Mailpit, with the npm client `mailpit-api`
// (unmodified, configured only with a base URL): clear, wait for a message sent after the
// wait began, read it whole, search, mark read, tag, delete. Asserts as it goes; prints
// one JSON line of what it saw at the end.
//   MAILPIT=http://127.0.0.1:8025 node mailpit_api_flow.mjs
// It prints `waiting` once it polls, so the caller sends the mail then.
import assert from "node:assert/strict";
import { MailpitClient } from "mailpit-api";

const mp = new MailpitClient(process.env.MAILPIT);
await mp.deleteMessages();
assert.equal((await mp.listMessages()).messages_count, 0);

const waiting = mp.waitForMessage({ query: "to:alice@example.com" }, { timeout: 20000, interval: 100 });
console.log("waiting");
const message = await waiting;
assert.equal(message.Subject, "Your receipt");
assert.equal(message.From.Address, "shop@example.com");
assert.equal(message.To[0].Name, "Alice Example");
assert.match(message.Text, /Thank you/);
assert.match(message.HTML, /<b>Thank you<\/b>/);
const [attachment] = message.Attachments;
assert.equal(attachment.FileName, "receipt.txt");
const blob = await mp.getMessageAttachment(message.ID, attachment.PartID);
assert.equal(await blob.text(), "total: 42.00");
const headers = await mp.getMessageHeaders(message.ID);
assert.deepEqual(headers["Subject"], ["Your receipt"]);
assert.match(await mp.getMessageSource(message.ID), /Subject: Your receipt/);

// Opening a message marks it read, as in Mailpit; marking unread and read again works.
let list = await mp.listMessages();
assert.equal(list.messages_count, 2);
assert.equal(list.unread, 1);
await mp.setReadStatus({ IDs: [message.ID], Read: false });
assert.equal((await mp.listMessages()).unread, 2);
await mp.setReadStatus({ Search: "subject:receipt", Read: true });
assert.equal((await mp.searchMessages({ query: "is:read" })).messages_count, 1);

await mp.setTags({ IDs: [message.ID], Tags: ["orders", "Paid"] });
assert.deepEqual(await mp.getTags(), ["orders", "Paid"]);
assert.equal((await mp.searchMessages({ query: "tag:paid" })).messages[0].ID, message.ID);
await mp.renameTag("Paid", "settled");
assert.deepEqual((await mp.getMessageSummary(message.ID)).Tags, ["orders", "settled"]);

const search = await mp.searchMessages({ query: '-subject:receipt has:attachment' });
assert.equal(search.messages_count, 0);
assert.equal((await mp.searchMessages({ query: 'thank "Alice Example"' })).messages_count, 1);
assert.match(await mp.renderMessageText(message.ID), /Thank you/);

await mp.deleteMessagesBySearch({ query: "to:alice@example.com" });
list = await mp.listMessages();
assert.equal(list.messages_count, 1);
assert.equal(list.messages[0].Subject, "Other mail");

// Mail sent through the API is stored like mail sent over SMTP.
const sent = await mp.sendMessage({
  From: { Email: "api@example.com", Name: "API" },
  To: [{ Email: "carol@example.com", Name: "Carol" }],
  Bcc: ["audit@example.com"],
  Subject: "Sent by API",
  Text: "Hello Carol",
  HTML: "<p>Hello <i>Carol</i></p>",
  Tags: ["api"],
  Attachments: [{ Content: Buffer.from("x,y\n1,2\n").toString("base64"), Filename: "data.csv", ContentType: "text/csv" }],
});
const viaApi = await mp.getMessageSummary(sent.ID);
assert.equal(viaApi.Subject, "Sent by API");
assert.equal(viaApi.To[0].Name, "Carol");
assert.deepEqual(viaApi.Bcc.map((a) => a.Address), ["audit@example.com"]);
assert.deepEqual(viaApi.Tags, ["api"]);
assert.equal(viaApi.Attachments[0].FileName, "data.csv");
assert.equal(await (await mp.getMessageAttachment(sent.ID, viaApi.Attachments[0].PartID)).text(), "x,y\n1,2\n");
list = await mp.listMessages();
console.log(JSON.stringify({ id: message.ID, part: attachment.PartID, left: list.messages_count }));

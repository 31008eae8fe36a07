// Verifies a Kassa webhook with the Standard Webhooks reference library for JavaScript, as a
// merchant's Node.js receiver would: reads {secret, id, timestamp, signature, body} as JSON on
// stdin, prints the verified payload's type, exits 1 when verification fails.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const m = JSON.parse(input);
try {
  const payload = new Webhook(m.secret).verify(m.body, {
    "webhook-id": m.id,
    "webhook-timestamp": m.timestamp,
    "webhook-signature": m.signature,
  });
  console.log(payload.type);
} catch (e) {
  console.error(`refused: ${e.message}`);
  process.exit(1);
}

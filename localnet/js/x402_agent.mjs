// The official x402 clients, unchanged, paying a Kassa-protected route against a local node:
// `@x402/fetch` wrapping fetch, with `@x402/svm`'s exact scheme signing with a @solana/kit key.
//
//   X402_PAYER='[64 bytes of a solana-keygen key]' node x402_agent.mjs <url> <rpc url> [calls]
//
// The clients know only mainnet's, devnet's and testnet's network ids; the route presents the
// local node as devnet, and the scheme is given the local node's RPC URL (the clients' own
// option for a custom RPC). Spend controls stay on, with the local mint allowed up to the
// price of a call. Prints one JSON line per call: the status, the body, and the decoded
// PAYMENT-RESPONSE.
import { wrapFetchWithPayment, x402Client, x402HTTPClient } from "@x402/fetch";
import { ExactSvmScheme } from "@x402/svm/exact/client";
import { createKeyPairSignerFromBytes } from "@solana/kit";

const [url, rpcUrl, calls = "1", asset, maxAmount] = process.argv.slice(2);
const signer = await createKeyPairSignerFromBytes(Uint8Array.from(JSON.parse(process.env.X402_PAYER)));

const client = new x402Client();
client.register("solana:*", new ExactSvmScheme(signer, { rpcUrl }));
if (typeof client.setSpendControls === "function") {
  client.setSpendControls({
    allowedAssets: [
      { network: "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1", asset, maxAmountPerPayment: maxAmount },
    ],
  });
}
const pay = wrapFetchWithPayment(fetch, client);
const http = new x402HTTPClient(client);

for (let i = 0; i < Number(calls); i++) {
  const res = await pay(url, { method: "GET" });
  let settlement = null;
  try {
    settlement = http.getPaymentSettleResponse((name) => res.headers.get(name));
  } catch {
    settlement = null;
  }
  console.log(JSON.stringify({ status: res.status, body: await res.text(), settlement }));
}

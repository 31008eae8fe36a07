// A JavaScript wallet pays a Kassa invoice through a Solana Pay *transaction request*, using
// @solana/pay's own request code (parseURL, fetchTransaction) and @solana/web3.js to send it to
// kassa-localnet, exactly as a wallet would against a cluster.
//
// Input (environment):
//   KASSA_PAY_LINK       the transaction-request link: either the https link itself
//                        (https://localhost:<port>/v1/pay/<payment>) or a `solana:` URL wrapping it
//   KASSA_RPC_URL        the node's JSON-RPC endpoint (http://127.0.0.1:<port>)
//   KASSA_PAYER          the payer's secret key, a JSON array of 64 numbers (keypair file format)
//   NODE_EXTRA_CA_CERTS  the CA that signed the API's TLS certificate (read by node itself)
//
// Output: exactly one stdout line `SIGNATURE <base58>` on success. On failure the error goes to
// stderr and the exit code is non-zero.
//
// RPC calls: fetchTransaction calls getLatestBlockhash only when the returned transaction's one
// and only signer is the payer (it then replaces the blockhash); when Kassa co-signs it calls
// nothing and the server's blockhash is kept. Then sendTransaction (with preflight) and
// getSignatureStatuses until confirmed. No WebSocket is used.
import { fetchTransaction, parseURL } from "@solana/pay";
import { Connection, Keypair } from "@solana/web3.js";

const CONFIRM_TIMEOUT_MS = 30_000;
const POLL_MS = 200;

const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};

const env = (name) => process.env[name] || fail(`${name} is not set`);

/** The https link of a transaction request, from either the link itself or a `solana:` URL. */
const transactionRequestLink = (raw) => {
  const url = new URL(raw.trim());
  if (url.protocol === "https:") return url;
  if (url.protocol !== "solana:") fail(`unsupported pay link protocol ${url.protocol}`);
  const parsed = parseURL(url);
  if (!("link" in parsed)) fail("the solana: URL is a transfer request, not a transaction request");
  return parsed.link;
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const describe = (error) => {
  let text = error?.stack || String(error);
  // SendTransactionError (preflight failure) carries the program logs.
  const logs = error?.logs ?? error?.transactionLogs;
  if (Array.isArray(logs) && logs.length) text += `\nlogs:\n  ${logs.join("\n  ")}`;
  return text;
};

try {
  // Everything that needs no network happens first: the node's blockhashes are short-lived, so
  // fetch, sign and send must follow each other without delay.
  const link = transactionRequestLink(env("KASSA_PAY_LINK"));
  const connection = new Connection(env("KASSA_RPC_URL"), { commitment: "confirmed" });
  const payer = Keypair.fromSecretKey(Uint8Array.from(JSON.parse(env("KASSA_PAYER"))));

  // POST {"account": <payer>} to the link; the library verifies any signatures already present.
  const transaction = await fetchTransaction(connection, payer.publicKey, link, {
    commitment: "confirmed",
  });
  if (!transaction.signatures.some(({ publicKey }) => publicKey.equals(payer.publicKey))) {
    fail(`the transaction does not ask the payer ${payer.publicKey.toBase58()} to sign`);
  }

  // partialSign adds the payer's signature and keeps the others (sign() would drop Kassa's).
  transaction.partialSign(payer);
  // serialize() checks that every required signature is present and valid.
  const signature = await connection.sendRawTransaction(transaction.serialize(), {
    preflightCommitment: "confirmed",
  });

  const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
  for (;;) {
    const { value } = await connection.getSignatureStatuses([signature]);
    const status = value[0];
    if (status?.err) fail(`transaction ${signature} failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === "confirmed" || status?.confirmationStatus === "finalized") {
      break;
    }
    if (Date.now() > deadline) {
      fail(`transaction ${signature} not confirmed after ${CONFIRM_TIMEOUT_MS} ms (${JSON.stringify(status)})`);
    }
    await sleep(POLL_MS);
  }

  console.log(`SIGNATURE ${signature}`);
  process.exit(0);
} catch (error) {
  fail(describe(error));
}

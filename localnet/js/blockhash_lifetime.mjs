// A person signs in a wallet some seconds after it fetched the blockhash: with @solana/web3.js,
// exactly as against a cluster.
//
// - a transfer signed against a blockhash fetched 10 s earlier lands, and `confirmTransaction`
//   with the blockhash strategy confirms it;
// - `getParsedTransaction` reads the transfer back parsed, as wallets build their history;
// - once the node's block height passes `lastValidBlockHeight` (aged with the node's
//   `kassa_advanceSlot` call, not by sleeping), the blockhash is invalid, a transaction on it is
//   refused with "Blockhash not found", and `confirmTransaction` gives up on it with
//   TransactionExpiredBlockheightExceededError.
//
// Input (environment): KASSA_RPC_URL, KASSA_WS_URL, KASSA_FIXTURE (a JSON file holding the
// funded payer's secret key) and KASSA_WAIT_MS (default 10000).
import { readFileSync } from "node:fs";
import bs58 from "bs58";
import {
  Connection,
  Keypair,
  SystemProgram,
  Transaction,
  TransactionExpiredBlockheightExceededError,
} from "@solana/web3.js";

const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};

const url = process.env.KASSA_RPC_URL;
const fixture = JSON.parse(readFileSync(process.env.KASSA_FIXTURE, "utf8"));
const connection = new Connection(url, {
  commitment: "confirmed",
  wsEndpoint: process.env.KASSA_WS_URL,
});
const payer = Keypair.fromSecretKey(Uint8Array.from(fixture.payerSecretKey));
const rpc = async (method, params = []) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  return response.json();
};

const { blockhash, lastValidBlockHeight } = await connection.getLatestBlockhash();
const to = Keypair.generate().publicKey;
const transfer = (lamports) => {
  const tx = new Transaction({ feePayer: payer.publicKey, blockhash, lastValidBlockHeight }).add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: to, lamports }),
  );
  tx.sign(payer);
  return tx;
};

// The person reads the transaction before approving it.
await new Promise((resolve) => setTimeout(resolve, Number(process.env.KASSA_WAIT_MS ?? 10000)));
const signature = await connection.sendRawTransaction(transfer(1_000_000).serialize());
const confirmed = await connection.confirmTransaction(
  { signature, blockhash, lastValidBlockHeight },
  "confirmed",
);
if (confirmed.value.err) fail(`the transfer failed: ${JSON.stringify(confirmed.value.err)}`);

const parsed = await connection.getParsedTransaction(signature, {
  commitment: "confirmed",
  maxSupportedTransactionVersion: 0,
});
const ix = parsed?.transaction.message.instructions[0];
if (
  ix?.program !== "system" ||
  ix.parsed?.type !== "transfer" ||
  ix.parsed.info.lamports !== 1_000_000 ||
  ix.parsed.info.source !== payer.publicKey.toBase58() ||
  ix.parsed.info.destination !== to.toBase58()
) {
  fail(`the transfer does not read back parsed: ${JSON.stringify(ix)}`);
}

// Age the blockhash past its last valid block height.
const height = await connection.getBlockHeight();
const advanced = await rpc("kassa_advanceSlot", [lastValidBlockHeight - height + 1]);
if (advanced.error) fail(`kassa_advanceSlot: ${JSON.stringify(advanced.error)}`);
if ((await connection.getBlockHeight()) <= lastValidBlockHeight) fail("the node did not advance");
if ((await connection.isBlockhashValid(blockhash)).value) fail("an expired blockhash is valid");
const expired = transfer(1_000_001);
try {
  await connection.sendRawTransaction(expired.serialize());
  fail("a transaction on an expired blockhash was accepted");
} catch (e) {
  if (!String(e).includes("Blockhash not found")) fail(`unexpected refusal: ${e}`);
}
try {
  await connection.confirmTransaction(
    { signature: bs58.encode(expired.signature), blockhash, lastValidBlockHeight },
    "confirmed",
  );
  fail("confirmTransaction confirmed a transaction that never landed");
} catch (e) {
  if (!(e instanceof TransactionExpiredBlockheightExceededError)) {
    fail(`confirmTransaction failed otherwise: ${e}`);
  }
}
console.log(`ok: ${signature} landed on a blockhash fetched before the wait; the expired one was refused`);
process.exit(0);

// A JavaScript wallet pays a Kassa invoice through kassa-localnet with @solana/web3.js, exactly
// as it would on a cluster, then reads the payment back.
//
// Input (environment): KASSA_RPC_URL, KASSA_WS_URL, and KASSA_FIXTURE, a JSON file holding the
// payer's secret key, the payment_pay instruction (built by kassa-sdk) and the payment address.
import { readFileSync } from "node:fs";
import bs58 from "bs58";
import {
  Connection,
  Keypair,
  PublicKey,
  Transaction,
  TransactionInstruction,
  sendAndConfirmTransaction,
} from "@solana/web3.js";

const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};

const fixture = JSON.parse(readFileSync(process.env.KASSA_FIXTURE, "utf8"));
const connection = new Connection(process.env.KASSA_RPC_URL, {
  commitment: "confirmed",
  wsEndpoint: process.env.KASSA_WS_URL,
});
const payer = Keypair.fromSecretKey(Uint8Array.from(fixture.payerSecretKey));
const payment = new PublicKey(fixture.payment);

const ix = new TransactionInstruction({
  programId: new PublicKey(fixture.instruction.programId),
  keys: fixture.instruction.keys.map((k) => ({
    pubkey: new PublicKey(k.pubkey),
    isSigner: k.isSigner,
    isWritable: k.isWritable,
  })),
  data: Buffer.from(fixture.instruction.data, "base64"),
});

// Pay: getLatestBlockhash, sendTransaction, then signatureSubscribe until confirmed.
const signature = await sendAndConfirmTransaction(connection, new Transaction().add(ix), [payer]);

// The payment account: Anchor discriminator (8), merchant, mint, payer (32 each) ...
const account = await connection.getAccountInfo(payment);
if (!account) fail("payment account not found");
const recordedPayer = new PublicKey(account.data.subarray(8 + 64, 8 + 96));
if (!recordedPayer.equals(payer.publicKey)) fail(`payer recorded as ${recordedPayer}`);
const authorized = account.data.readBigUInt64LE(8 + 128 + 8);
if (authorized !== BigInt(fixture.amount)) fail(`authorized ${authorized}, expected ${fixture.amount}`);

// The transaction: the PaymentAuthorized event arrives as an emit_cpi inner instruction.
const tx = await connection.getTransaction(signature, { maxSupportedTransactionVersion: 0, commitment: "confirmed" });
if (!tx || tx.meta.err) fail(`transaction missing or failed: ${JSON.stringify(tx?.meta?.err)}`);
const eventTag = Buffer.from([0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d]);
const events = tx.meta.innerInstructions
  .flatMap((inner) => inner.instructions)
  .map((i) => Buffer.from(bs58.decode(i.data)))
  .filter((data) => data.subarray(0, 8).equals(eventTag));
if (events.length !== 1) fail(`expected one event, found ${events.length}`);

// History by address, newest first.
const history = await connection.getSignaturesForAddress(payment);
if (history[0]?.signature !== signature) fail("payment history does not start with the payment");

console.log(JSON.stringify({ ok: true, signature, slot: tx.slot, events: events.length }));

// Kassa dashboard: capture, void and refund signed by the merchant's own wallet (found through
// the Wallet Standard), and the payment page kept current over server-sent events.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  // Wallet Standard: wallets register themselves with the app, before or after it is ready.
  var wallets = [];
  function register() {
    for (var i = 0; i < arguments.length; i++) wallets.push(arguments[i]);
    return function () {};
  }
  var api = Object.freeze({ register: register });
  window.addEventListener("wallet-standard:register-wallet", function (e) {
    try { e.detail(api); } catch (err) { console.error(err); }
  });
  window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: api }));

  function b64(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }
  function unb64(s) {
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function post(url, body) {
    var r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    });
    var data = await r.json().catch(function () { return {}; });
    if (!r.ok) throw new Error(data.detail || data.title || ("HTTP " + r.status));
    return data;
  }

  // The wallet that holds `address`, connected.
  async function walletFor(address) {
    for (var i = 0; i < wallets.length; i++) {
      var w = wallets[i];
      if (!w.features["solana:signTransaction"] || !w.features["standard:connect"]) continue;
      var res = await w.features["standard:connect"].connect();
      var accounts = (res && res.accounts) || w.accounts || [];
      for (var j = 0; j < accounts.length; j++) {
        if (accounts[j].address === address) return { wallet: w, account: accounts[j] };
      }
    }
    return null;
  }

  async function act(button) {
    var box = document.getElementById("payment");
    var out = document.getElementById("action-result");
    var address = box.dataset.address;
    var buttons = document.querySelectorAll("[data-action]");
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      var field = document.getElementById("amount");
      var body = field && field.value.trim() && button.dataset.action !== "void" ? { amount: field.value.trim() } : {};
      var prepared = await post("/dashboard/payments/" + address + "/" + button.dataset.action, body);
      if (!prepared.submitted) {
        var found = await walletFor(prepared.signers[0]);
        if (!found) throw new Error(out.dataset.noWallet);
        out.textContent = out.dataset.signing;
        var signed = await found.wallet.features["solana:signTransaction"].signTransaction({
          account: found.account,
          transaction: unb64(prepared.transaction),
        });
        out.textContent = out.dataset.sending;
        await post("/dashboard/transactions", { transaction: b64(signed[0].signedTransaction) });
      }
      out.textContent = out.dataset.done;
      out.className = "ok";
    } catch (e) {
      out.textContent = (e.message === out.dataset.noWallet ? "" : out.dataset.failed + " ") + e.message;
      out.className = "error";
      buttons.forEach(function (b) { b.disabled = false; });
    }
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("[data-action]");
    if (b) act(b);
  });

  // The payment page follows its payment: on every change, the page is read again and its
  // facts, actions and timeline swapped in (the result line stays).
  var box = document.getElementById("payment");
  if (box && window.EventSource) {
    var first = true;
    var source = new EventSource("/dashboard/payments/" + box.dataset.address + "/events");
    source.addEventListener("status", async function () {
      if (first) { first = false; return; }
      var r = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (!r.ok) return;
      var doc = new DOMParser().parseFromString(await r.text(), "text/html");
      var fresh = doc.getElementById("payment");
      if (!fresh) return;
      var result = document.getElementById("action-result");
      var keep = result ? { text: result.textContent, cls: result.className } : null;
      // The amount being typed survives the redraw (the same field, its value and focus): a
      // refund clicked right after a redraw must never fall back to "refund everything".
      var typed = document.getElementById("amount");
      var focused = typed !== null && document.activeElement === typed;
      box.innerHTML = fresh.innerHTML;
      var slot = document.getElementById("amount");
      if (typed && slot) {
        slot.replaceWith(typed);
        if (focused) typed.focus();
      }
      var again = document.getElementById("action-result");
      if (keep && again) { again.textContent = keep.text; again.className = keep.cls; }
      else if (keep && !again) {
        var p = document.createElement("p");
        p.id = "action-result"; p.setAttribute("role", "status");
        p.textContent = keep.text; p.className = keep.cls;
        box.insertBefore(p, box.querySelector("section:last-of-type"));
      }
    });
  }
})();

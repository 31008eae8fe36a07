// Kassa checkout: the countdown, the locked quote's countdown, and the live status over
// server-sent events. The page is complete without this script; it only keeps it current.
(function () {
  "use strict";
  var root = document.getElementById("checkout");
  if (!root) return;
  var payment = root.dataset.payment;
  var phase = root.dataset.phase;
  var status = document.getElementById("status");
  var heading = document.getElementById("status-heading");
  var help = document.getElementById("status-help");
  var pay = document.getElementById("pay");
  var back = document.getElementById("return-link");
  var cancel = document.getElementById("cancel-link");

  function show(next) {
    if (next === phase) return;
    phase = next;
    root.dataset.phase = next;
    status.className = "status status-" + next;
    heading.textContent = status.dataset[next];
    help.textContent = status.dataset[next + "Help"];
    var done = next === "paid" || next === "finalized";
    if (pay && next !== "waiting") pay.hidden = true;
    if (back) back.hidden = !done;
    if (cancel) cancel.hidden = done;
    if (next !== "waiting") stopClocks();
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function mmss(s) { return Math.floor(s / 60) + ":" + two(s % 60); }

  var clocks = [];
  function stopClocks() { clocks.forEach(clearInterval); clocks = []; }

  // Countdown to the invoice's expiry.
  var left = parseInt(root.dataset.seconds || "0", 10);
  var countdown = document.getElementById("countdown");
  if (countdown && phase === "waiting") {
    countdown.textContent = mmss(left);
    clocks.push(setInterval(function () {
      left = Math.max(0, left - 1);
      countdown.textContent = mmss(left);
      if (left === 0) show("expired");
    }, 1000));
  }

  // The locked quote: when the lock runs out the page asks for a fresh quote (the server
  // refuses the stale one anyway).
  var lock = document.getElementById("quote-lock");
  if (lock && root.dataset.quoteSeconds) {
    var q = parseInt(root.dataset.quoteSeconds, 10);
    clocks.push(setInterval(function () {
      q = Math.max(0, q - 1);
      lock.textContent = lock.dataset.template.replace("{seconds}", String(q));
      if (q === 0) window.location.reload();
    }, 1000));
  }

  // Live status.
  if (window.EventSource && (phase === "waiting" || phase === "paid")) {
    var source = new EventSource("/checkout/" + encodeURIComponent(payment) + "/events");
    source.addEventListener("status", function (e) {
      var data = JSON.parse(e.data);
      show(data.phase);
      if (data.phase === "finalized" || data.phase === "expired" || data.phase === "cancelled") {
        source.close();
      }
    });
  }
})();

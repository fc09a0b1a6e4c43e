// Door check-in (/door): staff type or scan a ticket code and see at once
// whether to let the holder in. The server decides, once per ticket; this
// page only shows its answer. The token stays in this tab (sessionStorage),
// the door name on this phone (localStorage). A door token belongs to one
// event, perhaps to one door: the page says which, and a door the token
// names replaces the typed one (the server records the token's door anyway).
import { $, callJson, clearError, showError } from "/static/common.js";

const TOKEN_KEY = "fairdrop.doorToken";
const DOOR_KEY = "fairdrop.doorName";
// A code held in front of the camera is seen many times a second: answer once.
const SAME_SCAN_IGNORED_MS = 3_000;
const SCAN_EVERY_MS = 250;
// Ask who a token belongs to once typing pauses, not at every keystroke.
const DESCRIBE_AFTER_MS = 300;

const scanner = { stream: null, timer: 0, lastCode: "", lastAt: 0 };
// Only the answer about the token typed last may change the page.
const tokenCheck = { timer: 0, asked: 0 };

/** The code from what was typed or scanned: a bare code, or a ticket page's address. */
function codeFrom(text) {
  const value = text.trim();
  const marker = "/tickets/";
  const at = value.lastIndexOf(marker);
  return at >= 0 ? decodeURIComponent(value.slice(at + marker.length).split(/[?#]/)[0]) : value;
}

function when(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
}

function showResult(kind, verdict, detail, code) {
  $("result").dataset.result = kind;
  $("verdict").textContent = verdict;
  $("result-detail").textContent = detail;
  $("result-code").textContent = code;
  $("result").hidden = false;
}

function showAnswer(answer) {
  const what = `${answer.event_name} · ${answer.ticket_type}`;
  if (answer.result === "valid") {
    showResult("valid", "Valid: let them in", what, answer.code);
  } else if (answer.result === "already_used") {
    // Used, then refunded: staff should know both before anyone argues.
    const orderNote = answer.order_status === "paid" ? "" : ` This order is ${answer.order_status}.`;
    showResult(
      "already_used",
      "Already used",
      `Checked in ${when(answer.checked_in_at)} at door “${answer.checked_in_by}”.${orderNote} ${what}`,
      answer.code,
    );
  } else if (answer.voided || answer.listed) {
    // Resale: the seat went (or is going) to another fan with a new code.
    const why = answer.voided ? "This ticket was resold" : "This ticket is put back for resale";
    showResult("void", "Not valid", `${why}. ${what}`, answer.code);
  } else {
    showResult("void", "Not valid", `This order is ${answer.order_status}. ${what}`, answer.code);
  }
}

async function checkIn(code) {
  clearError();
  const token = $("token").value.trim();
  const door = $("door").value.trim();
  if (!token || !door) {
    showError("Enter the door token and this door's name first.");
    return;
  }
  if (!code) {
    showError("Type or scan a ticket code.");
    return;
  }
  $("check-button").disabled = true;
  try {
    const answer = await callJson("POST", "/api/door/check-in", {
      body: { code, door },
      headers: { Authorization: `Bearer ${token}` },
    });
    showAnswer(answer);
  } catch (error) {
    if (error.code === "unknown_ticket") {
      showResult("unknown", "Unknown ticket", "No ticket has this code.", code);
    } else if (error.code === "ticket_of_another_event") {
      showResult("another_event", "Wrong event: not checked in", error.message, code);
    } else if (error.code === "invalid_field" && error.message.startsWith("code")) {
      showResult("unknown", "Not a ticket code", "Check what was typed.", code);
    } else {
      $("result").hidden = true;
      showError(error.message);
    }
  } finally {
    $("check-button").disabled = false;
  }
}

// ---------- the camera (where the browser can read QR codes) ----------

function stopScanning() {
  clearInterval(scanner.timer);
  if (scanner.stream) for (const track of scanner.stream.getTracks()) track.stop();
  scanner.stream = null;
  $("camera").hidden = true;
  $("scan-button").textContent = "Scan with camera";
}

async function startScanning() {
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  try {
    scanner.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
  } catch (error) {
    showError(`The camera is not available (${error.message}). Type the code instead.`);
    return;
  }
  const video = $("camera");
  video.srcObject = scanner.stream;
  video.hidden = false;
  await video.play();
  $("scan-button").textContent = "Stop the camera";
  scanner.timer = setInterval(async () => {
    const found = await detector.detect(video).catch(() => []);
    if (!found.length) return;
    const code = codeFrom(found[0].rawValue);
    const now = Date.now();
    if (code === scanner.lastCode && now - scanner.lastAt < SAME_SCAN_IGNORED_MS) return;
    scanner.lastCode = code;
    scanner.lastAt = now;
    checkIn(code);
  }, SCAN_EVERY_MS);
}

function setUpScanner() {
  const canScan = "BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia;
  if (!canScan) return; // typing only
  $("scan-button").hidden = false;
  $("scan-button").addEventListener("click", () => {
    if (scanner.stream) stopScanning();
    else startScanning();
  });
}

// ---------- whose token ----------

function showScope(text, state) {
  $("token-scope").textContent = text;
  $("token-scope").dataset.state = state;
  $("token-scope").hidden = !text;
}

/** The door field: the token's own door (fixed), or the name typed on this phone. */
function useDoor(tokenDoor) {
  $("door").readOnly = Boolean(tokenDoor);
  $("door").value = tokenDoor || localStorage.getItem(DOOR_KEY) || $("door").defaultValue;
}

async function describeToken() {
  const token = $("token").value.trim();
  const asked = ++tokenCheck.asked;
  if (!token) {
    showScope("", "");
    useDoor(null);
    return;
  }
  try {
    const staff = await callJson("GET", "/api/door/whoami", {
      headers: { Authorization: `Bearer ${token}` },
    });
    if (asked !== tokenCheck.asked) return;
    if (staff.all_events) {
      showScope("Organiser token: every event's tickets.", "all");
    } else {
      const where = staff.door ? `door “${staff.door}”` : "any door";
      showScope(`${staff.event_name || staff.event_id} · ${where}`, "event");
    }
    useDoor(staff.door);
  } catch (error) {
    if (asked !== tokenCheck.asked) return;
    showScope(error.message, "refused");
    useDoor(null);
  }
}

function describeTokenSoon() {
  clearTimeout(tokenCheck.timer);
  tokenCheck.timer = setTimeout(describeToken, DESCRIBE_AFTER_MS);
}

// ---------- start ----------

$("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
useDoor(null);
$("token").addEventListener("input", () => {
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  describeTokenSoon();
});
$("door").addEventListener("input", () => localStorage.setItem(DOOR_KEY, $("door").value.trim()));
$("staff-form").addEventListener("submit", (event) => event.preventDefault());
$("check-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const typed = $("code").value;
  await checkIn(codeFrom(typed));
  // Ready for the next ticket, unless staff already typed it while this one was checked.
  if ($("code").value === typed) $("code").value = "";
  $("code").focus();
});
setUpScanner();
describeToken();

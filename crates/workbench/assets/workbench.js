// The BaRS workbench's one script. Everything works without it; it adds the NHS number check
// as the number is typed and a "copy" button on each curl command.
"use strict";

// Modulus 11: the digits weighted 10..2, 11 minus the remainder is the check digit (11 -> 0,
// 10 -> no valid number). Same rule as bars_fhir::NhsNumber::parse on the server.
function nhsProblem(text) {
  var digits = text.replace(/\s+/g, "");
  if (digits === "") return null;
  if (!/^[0-9]+$/.test(digits)) return "Only digits (and spaces) belong in an NHS number.";
  if (digits.length < 10) return "Keep going: " + digits.length + " of 10 digits.";
  if (digits.length > 10) return "Too long: an NHS number has 10 digits.";
  var sum = 0;
  for (var i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  var check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10 || check !== Number(digits[9])) {
    return "This is not a valid NHS number: the check digit does not match. Check it was typed correctly.";
  }
  return "";
}

function watchNhsNumber(input) {
  var out = document.getElementById("nhs-check");
  function check() {
    var problem = nhsProblem(input.value);
    if (!out) return;
    if (problem === null) { out.textContent = ""; out.className = "check"; return; }
    out.textContent = problem === "" ? "Valid NHS number." : problem;
    out.className = problem === "" ? "check good" : "check bad";
  }
  input.addEventListener("input", check);
  check();
}

function addCopyButtons() {
  document.querySelectorAll("pre[data-curl]").forEach(function (pre) {
    if (!navigator.clipboard) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy curl command";
    var status = document.createElement("span");
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(pre.textContent).then(
        function () { status.textContent = " Copied."; },
        function () { status.textContent = " Could not copy: select the text instead."; });
    });
    pre.parentNode.insertBefore(button, pre);
    pre.parentNode.insertBefore(status, pre);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input[data-nhs-number]").forEach(watchNhsNumber);
  addCopyButtons();
});

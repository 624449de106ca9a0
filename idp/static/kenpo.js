// The only behaviour members need besides WebAuthn: show/hide the password.
document.querySelectorAll("input[data-toggles]").forEach(function (box) {
  box.addEventListener("change", function () {
    var target = document.getElementById(box.getAttribute("data-toggles"));
    if (target) target.type = box.checked ? "text" : "password";
  });
});

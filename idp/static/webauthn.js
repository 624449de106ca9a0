// Passkey (WebAuthn) ceremonies for the server-rendered forms. Plain ES2020, no dependencies, loaded
// with <script src=".../webauthn.js" defer> under a strict CSP (no inline script, no eval).
//
// <form data-webauthn="register" data-options="{…}">  → navigator.credentials.create on submit
// <form data-webauthn="login"    data-options="{…}">  → navigator.credentials.get on submit
// <form data-webauthn="conditional" data-options="{…}"> → navigator.credentials.get with
//     mediation "conditional" at page load (passkeys offered in the user-name field's autofill,
//     which needs autocomplete="username webauthn" on that field); submitted when one is picked.
//
// data-options holds the options JSON from the server's start_* (binary members as base64url
// strings). The result goes, as base64url JSON in the shape webauthn-rs deserialises
// (RegisterPublicKeyCredential / PublicKeyCredential), into the form's hidden
// <input name="credential">, and the form is submitted normally. On failure or cancel the
// DOMException name goes into <input name="error"> and the form is submitted anyway, so the server
// decides what to show. Without JavaScript nothing happens: the server sees neither field.
(() => {
  "use strict";

  // ---- base64url <-> bytes ----

  const toBytes = (s) => {
    const b64 = String(s).replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  };

  const toB64u = (buf) => {
    if (buf === null || buf === undefined) return null;
    const bytes = ArrayBuffer.isView(buf)
      ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
      : new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // ---- options: JSON from the server → the dictionaries the browser API takes ----

  const readOptions = (form) => {
    const parsed = JSON.parse(form.getAttribute("data-options") || "null");
    if (!parsed || typeof parsed !== "object") throw new TypeError("data-options missing");
    // Accept both the bare options and webauthn-rs's {"publicKey": {...}} wrapper.
    const o = parsed.publicKey || parsed;
    const creds = (list) =>
      Array.isArray(list) ? list.map((c) => Object.assign({}, c, { id: toBytes(c.id) })) : undefined;
    const pk = Object.assign({}, o, { challenge: toBytes(o.challenge) });
    if (o.user) pk.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
    if (o.excludeCredentials) pk.excludeCredentials = creds(o.excludeCredentials);
    if (o.allowCredentials) pk.allowCredentials = creds(o.allowCredentials);
    // WebIDL dictionaries reject null for enum members; the server omits them, but be safe.
    Object.keys(pk).forEach((k) => pk[k] === null && delete pk[k]);
    return pk;
  };

  // ---- result: PublicKeyCredential → JSON for the server ----

  // Only extension outputs webauthn-rs reads, with the types it expects; anything else (prf
  // results holding ArrayBuffers, vendor additions) is dropped rather than risking a parse error.
  const extensionResults = (cred, registering) => {
    const all = typeof cred.getClientExtensionResults === "function" ? cred.getClientExtensionResults() : {};
    const out = {};
    if (all && typeof all.appid === "boolean") out.appid = all.appid;
    if (registering && all && all.credProps && typeof all.credProps.rk === "boolean") {
      out.credProps = { rk: all.credProps.rk };
    }
    return out;
  };

  const encodeCredential = (cred) => {
    const r = cred.response;
    const registering = "attestationObject" in r;
    const response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (registering) {
      response.attestationObject = toB64u(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      response.userHandle = toB64u(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      response: response,
      clientExtensionResults: extensionResults(cred, registering),
    });
  };

  // ---- form plumbing ----

  const hidden = (form, name) => {
    let input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    return input;
  };

  const errorName = (e) => {
    const name = e && typeof e.name === "string" ? e.name : "";
    return /^[A-Za-z]{1,64}$/.test(name) ? name : "UnknownError";
  };

  const submit = (form, submitter) => {
    form.dataset.webauthnDone = "1";
    // Cleared again once the submission is under way, so that a form kept on the page (validation
    // refused it, or it came back from the back/forward cache) runs a fresh ceremony next time.
    setTimeout(() => delete form.dataset.webauthnDone, 0);
    // requestSubmit keeps the clicked button's name/value and runs validation; submit() does not
    // fire the submit event again, so either way this handler is not re-entered with work to do.
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
    } else {
      form.submit();
    }
  };

  const finish = (form, submitter, credential, error) => {
    hidden(form, "credential").value = credential || "";
    hidden(form, "error").value = error || "";
    submit(form, submitter);
  };

  const supported = () =>
    typeof window.PublicKeyCredential === "function" && !!navigator.credentials && window.isSecureContext !== false;

  // A pending conditional-UI request blocks any other WebAuthn call; it is aborted first.
  let conditional = null;
  const abortConditional = () => {
    if (conditional) {
      conditional.abort();
      conditional = null;
    }
  };

  // register / login: run the ceremony when the form is submitted (the click that submits it is the
  // user gesture browsers require, so nothing is awaited before create/get is called).
  const onSubmit = (event) => {
    const form = event.currentTarget;
    if (form.dataset.webauthnDone === "1") return; // our own resubmission: let it through
    event.preventDefault();
    if (form.dataset.webauthnBusy === "1") return; // double click
    const submitter = event.submitter || null;
    if (!supported()) {
      finish(form, submitter, "", "NotSupportedError");
      return;
    }
    form.dataset.webauthnBusy = "1";
    let call;
    try {
      abortConditional();
      const publicKey = readOptions(form);
      call =
        form.getAttribute("data-webauthn") === "register"
          ? navigator.credentials.create({ publicKey })
          : navigator.credentials.get({ publicKey });
    } catch (e) {
      call = Promise.reject(e);
    }
    call
      .then((cred) => {
        if (!cred) throw new DOMException("no credential", "NotAllowedError");
        finish(form, submitter, encodeCredential(cred), "");
      })
      .catch((e) => finish(form, submitter, "", errorName(e)))
      .finally(() => {
        delete form.dataset.webauthnBusy;
      });
  };

  // conditional: start at page load if the browser can offer passkeys in autofill. Failures are
  // silent (the member did not ask for anything; the ordinary form still works), except that a
  // picked passkey that then fails is reported like the other modes.
  const startConditional = async (form) => {
    if (!supported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") return;
    let available = false;
    try {
      available = await PublicKeyCredential.isConditionalMediationAvailable();
    } catch (e) {
      return;
    }
    if (!available) return;
    let publicKey;
    try {
      publicKey = readOptions(form);
    } catch (e) {
      return;
    }
    abortConditional();
    const controller = new AbortController();
    conditional = controller;
    try {
      const cred = await navigator.credentials.get({ mediation: "conditional", publicKey, signal: controller.signal });
      if (conditional === controller) conditional = null;
      if (cred) finish(form, null, encodeCredential(cred), "");
    } catch (e) {
      if (conditional === controller) conditional = null;
      const name = errorName(e);
      // AbortError: we aborted it for a modal ceremony. NotAllowedError: dismissed, timed out, or
      // no passkey. Neither is worth a page load.
      if (name !== "AbortError" && name !== "NotAllowedError") finish(form, null, "", name);
    }
  };

  const init = () => {
    document.querySelectorAll('form[data-webauthn="register"], form[data-webauthn="login"]').forEach((form) => {
      form.addEventListener("submit", onSubmit);
    });
    document.querySelectorAll('form[data-webauthn="conditional"]').forEach((form) => {
      startConditional(form);
    });
  };

  // Back/forward cache: the old challenge is spent, and a conditional request does not survive.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-webauthn]").forEach((form) => {
      delete form.dataset.webauthnDone;
      delete form.dataset.webauthnBusy;
    });
    document.querySelectorAll('form[data-webauthn="conditional"]').forEach((form) => startConditional(form));
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

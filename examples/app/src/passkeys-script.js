// The one script of the example app, served as /passkeys.js (a same-origin file, so the pages that
// use it allow `script-src 'self'` and nothing inline). It only bridges WebAuthn: it reads the
// options the page carries in a JSON data block, calls navigator.credentials, puts the
// credential's JSON into the form's hidden field and submits the form. The passkey sections start
// `hidden` and are shown only when the browser supports WebAuthn; everything else works without
// JavaScript. Without WebAuthn, elements marked data-passkey-only stay hidden and data-passkey-fallback
// ones ("this browser cannot use passkeys") stay shown.
export const PASSKEYS_SCRIPT = String.raw`"use strict";
(() => {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const text = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  // PublicKeyCredential.parse*FromJSON / toJSON where the browser has them, the same by hand elsewhere.
  const descriptors = (list) => (list || []).map((d) => ({ ...d, id: bytes(d.id) }));
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    return { ...json, challenge: bytes(json.challenge), user: { ...json.user, id: bytes(json.user.id) }, excludeCredentials: descriptors(json.excludeCredentials) };
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    return { ...json, challenge: bytes(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
  }
  function credentialJSON(c) {
    if (typeof c.toJSON === "function") return c.toJSON();
    const r = c.response;
    const response = { clientDataJSON: text(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = text(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = text(r.authenticatorData);
      response.signature = text(r.signature);
      if (r.userHandle) response.userHandle = text(r.userHandle);
    }
    return { id: c.id, rawId: text(c.rawId), type: c.type, response, clientExtensionResults: c.getClientExtensionResults(), authenticatorAttachment: c.authenticatorAttachment || undefined };
  }
  for (const element of document.querySelectorAll("[data-passkey-only]")) element.hidden = false;
  for (const element of document.querySelectorAll("[data-passkey-fallback]")) element.hidden = true;
  for (const section of document.querySelectorAll("[data-passkey]")) {
    const form = section.querySelector("form");
    const button = section.querySelector("button[data-passkey-start]");
    const status = section.querySelector("[data-passkey-status]");
    const options = JSON.parse(section.querySelector("script[type='application/json']").textContent);
    const ceremony = section.dataset.passkey;
    section.hidden = false;
    button.addEventListener("click", async (event) => {
      event.preventDefault();
      if (ceremony === "create" && !form.reportValidity()) return;
      button.disabled = true;
      status.textContent = "Follow your browser's prompt…";
      try {
        const credential = ceremony === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
        form.elements.credential.value = JSON.stringify(credentialJSON(credential));
        form.submit();
      } catch (e) {
        status.textContent = e && e.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out. Try again."
          : "Your browser could not use a passkey here (" + (e && e.name) + ").";
        button.disabled = false;
      }
    });
  }
})();
`;

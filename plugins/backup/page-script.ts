/**
 * The backup pages' script, served at /backup/backup.js (the pages allow
 * scripts of the gateway's own origin only, nothing inline). It wires the
 * buttons that carry `data-passkey`:
 * - `login`: options from `data-options` for the page's `data-context`,
 *   SimpleWebAuthnBrowser.startAuthentication, the answer to `data-submit`,
 *   then the browser goes where the gateway says (`{ location }`);
 * - `register`: options from `data-options` with the page's `data-csrf`,
 *   startRegistration, the answer to `data-submit`, then the form named by
 *   `data-continue` is submitted (the offer page goes on to the site) or the
 *   browser goes to `data-done` (the account page, reloaded).
 * A refusal is shown in `#passkey-status`. Buttons stay disabled until this
 * script knows the browser can use passkeys.
 */
export const PAGE_SCRIPT = `'use strict';
(function () {
  var status = document.getElementById('passkey-status');
  function say (text) { if (status) status.textContent = text; }

  function refused (message) {
    var err = new Error(message);
    err.name = 'Refused';
    return err;
  }

  async function post (url, body) {
    var response = await fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    var answer = await response.json().catch(function () { return {}; });
    if (!response.ok) throw refused(answer.message || answer.error_description || 'Something went wrong. Please try again.');
    return answer;
  }

  async function logIn (button) {
    var started = await post(button.dataset.options, { context: button.dataset.context });
    var response = await SimpleWebAuthnBrowser.startAuthentication({ optionsJSON: started.options });
    var done = await post(button.dataset.submit, { context: button.dataset.context, ceremony: started.ceremony, response: response });
    say('Taking you back to the site…');
    location.assign(done.location);
  }

  async function addPasskey (button) {
    var started = await post(button.dataset.options, { csrf: button.dataset.csrf });
    var response = await SimpleWebAuthnBrowser.startRegistration({ optionsJSON: started.options });
    await post(button.dataset.submit, { csrf: button.dataset.csrf, ceremony: started.ceremony, response: response });
    var next = button.dataset.continue ? document.getElementById(button.dataset.continue) : null;
    if (next) {
      say('Your passkey was added. Taking you back to the site…');
      next.submit();
    } else {
      say('Your passkey was added.');
      location.assign(button.dataset.done);
    }
  }

  function explain (err) {
    if (err && err.name === 'Refused') return err.message;
    if (err && (err.name === 'NotAllowedError' || err.name === 'AbortError')) return 'The passkey prompt was closed or timed out. Nothing changed; you can try again.';
    if (err && err.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
    return 'This browser could not use a passkey' + (err && err.message ? ': ' + err.message : '.');
  }

  var actions = { login: logIn, register: addPasskey };
  var supported = typeof SimpleWebAuthnBrowser !== 'undefined' && SimpleWebAuthnBrowser.browserSupportsWebAuthn();
  document.querySelectorAll('button[data-passkey]').forEach(function (button) {
    var action = actions[button.dataset.passkey];
    if (!action) return;
    if (!supported) {
      say('This browser cannot use passkeys.');
      return;
    }
    button.disabled = false;
    button.addEventListener('click', function () {
      button.disabled = true;
      say('');
      action(button).catch(function (err) {
        say(explain(err));
        button.disabled = false;
      });
    });
  });
})();
`

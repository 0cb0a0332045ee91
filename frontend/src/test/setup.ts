import { afterEach } from 'vitest';
import { cleanup, configure } from '@testing-library/react';

// findBy*/waitFor give up after this long. The default (1 s) is too tight when the tests share
// a small machine with Rust builds; a longer deadline only matters when something is wrong.
configure({ asyncUtilTimeout: 10_000 });

// jsdom has <dialog> but not its modal API; these do what the tests rely on (open, close, the
// close event). Focus trapping and inertness are the browser's, checked by the browser test.
if (typeof HTMLDialogElement !== 'undefined' && !HTMLDialogElement.prototype.showModal) {
  HTMLDialogElement.prototype.showModal = function showModal(this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  HTMLDialogElement.prototype.close = function close(this: HTMLDialogElement) {
    if (!this.hasAttribute('open')) return;
    this.removeAttribute('open');
    this.dispatchEvent(new Event('close'));
  };
}

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

"""Browser behaviour the app shell installs once per tab (from SessionState.load):

- Focus goes back where it was when a dialog closes. Radix gives it back to a dialog's trigger,
  but most dialogs here open from state (no trigger), so without this the focus fell to <body>.
- Ctrl+K / Cmd+K opens the command palette (by its top-bar button).
"""

SHELL_JS = """(() => {
  if (window.__brmShell) return;
  window.__brmShell = true;
  const DIALOG = '[role=dialog], [role=alertdialog]';
  document.addEventListener('focusin', (e) => {
    if (e.target instanceof Element && !e.target.closest(DIALOG)) window.__brmLastFocus = e.target;
  }, true);
  let open = false;
  new MutationObserver(() => {
    const now = !!document.querySelector(DIALOG);
    if (open && !now) {
      setTimeout(() => {
        const last = window.__brmLastFocus;
        const lost = !document.activeElement || document.activeElement === document.body;
        if (lost && last && last.isConnected) last.focus();
      }, 0);
    }
    open = now;
  }).observe(document.body, {childList: true, subtree: true});
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === 'k' || e.key === 'K')) {
      const button = document.getElementById('palette-open');
      if (button) { e.preventDefault(); button.click(); }
    }
  });
})()"""

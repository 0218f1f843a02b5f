/**
 * The settings page's HTML and CSS (its script is src/settings/web/app.ts, built to
 * dist/settings/web/app.js). Kept here as strings so the compiled service carries them: nothing is
 * fetched from elsewhere, and nothing runs inline (the Content-Security-Policy allows scripts from
 * this origin only).
 */
export const SETTINGS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Settings · Configuration · Bifrost</title>
<link rel="stylesheet" href="/settings/assets/app.css">
<script type="module" src="/settings/assets/app.js"></script>
</head>
<body>
<header>
<h1>Settings <span aria-hidden="true">→</span> Configuration</h1>
<span id="who"></span>
<button type="button" id="sign-out" hidden>Sign out</button>
</header>
<main id="app"><noscript>This page needs JavaScript.</noscript></main>
</body>
</html>
`;

export const SETTINGS_CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; }
body { margin: 0; }
header { display: flex; gap: 1rem; align-items: center; padding: .75rem 1.5rem; background: #24292f; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
main { padding: 1.5rem; max-width: 80rem; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem 1.25rem; margin: 1rem 0; max-width: 40rem; }
.field { display: grid; gap: .25rem; margin: .75rem 0; }
.field label { font-weight: 600; }
input, select, textarea, button { font: inherit; padding: .35rem .5rem; }
textarea.json { font-family: ui-monospace, monospace; }
button { cursor: pointer; border: 1px solid #8c959f; border-radius: 4px; background: #f6f8fa; }
button[type=submit] { background: #1f883d; border-color: #1f883d; color: #fff; }
.toolbar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.heading { display: flex; gap: 1rem; align-items: center; }
.check { display: inline-flex; gap: .35rem; align-items: center; }
.error, .field-error { color: #cf222e; margin: .25rem 0; min-height: 0; }
.note { color: #57606a; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 1rem 0; }
caption { text-align: left; font-weight: 600; padding: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left; vertical-align: top; }
td.value { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
td.masked { letter-spacing: .1em; }
.exposed { margin-left: .5rem; padding: 0 .4rem; border-radius: .6rem; background: #cf222e; color: #fff; font-size: .75rem; font-weight: normal; }
.actions button { margin-right: .25rem; }
`;

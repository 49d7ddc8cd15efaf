/**
 * The pages' one stylesheet, served from /assets/app.css (the server's CSP allows no inline style).
 * Dark text on a light page; each state type has its colour; tables scroll sideways on a phone.
 * @internal
 */
export const appCss = String.raw`
:root { --fg: #1d232b; --muted: #5d6773; --line: #d7dce2; --bg: #fbfcfd; --panel: #ffffff; --link: #0b57b7;
  --scheduled: #6b7280; --pending: #8a6d00; --running: #1463c8; --completed: #137333; --failed: #b3261e;
  --crashed: #8e1a5f; --cancelled: #5f5f5f; --cancelling: #a05a00; --paused: #6941c6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); }
header.top { display: flex; gap: 1rem; align-items: baseline; padding: .6rem 1rem; border-bottom: 1px solid var(--line);
  background: var(--panel); }
header.top a.home { font-weight: 700; color: var(--fg); text-decoration: none; }
main { max-width: 1400px; margin: 0 auto; padding: 1rem; }
a { color: var(--link); }
h1 { font-size: 1.35rem; margin: .2rem 0 .6rem; overflow-wrap: anywhere; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
code, pre, .log-line { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 32rem;
  white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.muted { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--panel); }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
td.name { min-width: 7rem; overflow-wrap: break-word; }
.state { display: inline-block; padding: 0 .45rem; border-radius: .7rem; color: #fff; font-size: .8rem;
  font-weight: 600; white-space: nowrap; background: var(--scheduled); }
[data-state-type="PENDING"].state { background: var(--pending); }
[data-state-type="RUNNING"].state { background: var(--running); }
[data-state-type="COMPLETED"].state { background: var(--completed); }
[data-state-type="FAILED"].state { background: var(--failed); }
[data-state-type="CRASHED"].state { background: var(--crashed); }
[data-state-type="CANCELLED"].state { background: var(--cancelled); }
[data-state-type="CANCELLING"].state { background: var(--cancelling); }
[data-state-type="PAUSED"].state { background: var(--paused); }
.tag { display: inline-block; border: 1px solid var(--line); border-radius: .3rem; padding: 0 .3rem; margin: 0 .2rem .1rem 0;
  font-size: .8rem; }
form#filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .8rem; }
form#filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
input, select, button { font: inherit; padding: .25rem .4rem; border: 1px solid var(--line); border-radius: .3rem;
  background: #fff; color: var(--fg); }
button { background: var(--link); color: #fff; border-color: var(--link); cursor: pointer; }
#counts { display: flex; flex-wrap: wrap; gap: .4rem; margin: 0 0 .8rem; padding: 0; list-style: none; }
#counts li { display: flex; gap: .3rem; align-items: center; }
#counts .count { font-weight: 700; }
.pager { margin: .8rem 0; display: flex; gap: 1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.actions { display: flex; gap: 1rem; margin: .6rem 0; }
#outcome, .notice { padding: .5rem .8rem; border: 1px solid var(--line); border-left: 4px solid var(--completed);
  background: var(--panel); margin: .6rem 0; }
.notice.error { border-left-color: var(--failed); }
ol#history-list { margin: 0; padding-left: 1.2rem; }
ol#history-list li { margin: .15rem 0; }
#timeline .bar, #timeline .group { display: grid; grid-template-columns: minmax(8rem, 16rem) 1fr 4rem; gap: .5rem;
  align-items: center; padding: .1rem 0; }
#timeline .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: .85rem; }
#timeline svg { width: 100%; height: .9rem; background: #eef1f4; display: block; }
#timeline rect { fill: var(--scheduled); }
#timeline rect[data-state-type="PENDING"] { fill: var(--pending); }
#timeline rect[data-state-type="RUNNING"] { fill: var(--running); }
#timeline rect[data-state-type="COMPLETED"] { fill: var(--completed); }
#timeline rect[data-state-type="FAILED"] { fill: var(--failed); }
#timeline rect[data-state-type="CRASHED"] { fill: var(--crashed); }
#timeline rect[data-state-type="CANCELLED"] { fill: var(--cancelled); }
#timeline rect[data-state-type="CANCELLING"] { fill: var(--cancelling); }
#timeline rect[data-state-type="PAUSED"] { fill: var(--paused); }
#timeline .group .summary { grid-column: 2 / 4; font-size: .85rem; display: flex; flex-wrap: wrap; gap: .3rem; }
.attempts { font-size: .8rem; color: var(--muted); text-align: right; }
#log-lines:empty { display: none; }
#log-lines { background: var(--panel); border: 1px solid var(--line); max-height: 32rem; overflow: auto; padding: .4rem; }
.log-line { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.log-line .level { font-weight: 700; margin-right: .4rem; }
.log-line[data-level="Error"] .level, .log-line[data-level="Fatal"] .level { color: var(--failed); }
.log-line[data-level="Warning"] .level { color: var(--cancelling); }
@media (max-width: 640px) {
  main { padding: .5rem; }
  #timeline .bar, #timeline .group { grid-template-columns: 7rem 1fr 3rem; }
  th.wide, td.wide { display: none; }
}
`

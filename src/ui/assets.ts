/**
 * The UI's only stylesheet and client script: constants, inlined into every page with
 * dangerouslySetInnerHTML because Hono would otherwise escape `>` in CSS selectors and `&&` in
 * the script. They carry no user data; everything dynamic reaches the script through
 * `data-` attributes, which Hono escapes.
 */

export const CSS = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#fff;--soft:#f6f8fa;--accent:#0550ae;--ok:#116329;--bad:#a40e26;--warn:#7d4e00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header.top{display:flex;gap:1.5rem;align-items:center;padding:.5rem 1rem;background:#24292f;color:#fff}
header.top a{color:#fff;text-decoration:none;font-weight:600}
header.top .who{margin-left:auto;display:flex;gap:.75rem;align-items:center}
header.top button{background:transparent;color:#fff;border:1px solid #8c959f}
main{padding:1rem;max-width:1200px}
h1{font-size:1.4rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.2rem}
a{color:var(--accent)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
pre{background:var(--soft);padding:.5rem;overflow:auto;border:1px solid var(--line)}
.muted{color:var(--muted)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
.badge{display:inline-block;padding:0 .4rem;border:1px solid var(--line);border-radius:1rem;background:var(--soft);margin:0 .2rem .2rem 0;white-space:nowrap}
.badge.alias{border-color:var(--accent);color:var(--accent)}
form.inline{display:inline-flex;gap:.3rem;align-items:center;flex-wrap:wrap;margin:.1rem 0}
form.filters{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap;margin-bottom:.6rem}
label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:.1rem}
label.check{flex-direction:row;align-items:center;gap:.3rem}
input,select,textarea,button{font:inherit;padding:.2rem .4rem;border:1px solid #8c959f;border-radius:4px;color:var(--fg);background:#fff}
button{cursor:pointer;background:var(--soft)}button.primary{background:var(--accent);color:#fff;border-color:var(--accent)}button.danger{color:var(--bad);border-color:var(--bad)}
.bar{display:flex;height:1.2rem;min-width:14rem;border:1px solid var(--line);border-radius:3px;overflow:hidden}
.bar span{display:block;color:#fff;font-size:11px;padding:0 .3rem;white-space:nowrap;overflow:hidden;line-height:1.2rem}
.bar span:nth-child(1){background:#0550ae}.bar span:nth-child(2){background:#8250df}.bar span:nth-child(3){background:#bc4c00}.bar span:nth-child(n+4){background:#57606a}
ol.timeline{list-style:none;padding-left:0;margin:.2rem 0;border-left:2px solid var(--line)}
ol.timeline li{padding:.1rem .6rem}ol.timeline li.rollback{border-left:3px solid var(--bad);margin-left:-2px}
ol.timeline li.current{border-left:3px solid var(--accent);margin-left:-2px;font-weight:600}
.checks td.pass{color:var(--ok)}.checks td.fail{color:var(--bad);font-weight:600}
.notice{padding:.5rem .75rem;border:1px solid var(--line);background:var(--soft);margin:.5rem 0}
.notice.bad{border-color:var(--bad);color:var(--bad);background:#fff5f5}.notice.ok{border-color:var(--ok);color:var(--ok)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:0 1.5rem}
.diff .add{background:#dafbe1;color:#116329}.diff .del{background:#ffebe9;color:#a40e26}.diff .hunk{color:#8250df}
.diff span{display:block;white-space:pre}
.markdown{border:1px solid var(--line);padding:.2rem 1rem;max-width:60rem;overflow-x:auto}.markdown table,table.card-meta{width:auto}table.card-meta{max-width:60rem}table.card-meta td.mono{word-break:break-all}pre.markdown{white-space:pre-wrap}
button.copy{padding:0 .3rem;font-size:11px}
#live{font-size:12px}
form.rollback .inline{display:flex;gap:.3rem;align-items:end;flex-wrap:wrap}
form.rollback .target{margin:.3rem 0}form.rollback button{white-space:normal;text-align:left}
ul.stays{margin:.15rem 0 0;padding-left:1rem;font-size:12px;color:var(--muted)}
section.danger-zone{margin-top:2rem;border:1px solid var(--bad);border-radius:4px;padding:0 .75rem .5rem}
section.danger-zone h2{color:var(--bad);border-bottom-color:var(--bad)}
@media (max-width:720px){
main{padding:.6rem}header.top{flex-wrap:wrap;gap:.3rem 1rem}header.top .who{margin-left:0;flex-wrap:wrap}
table{display:block;overflow-x:auto}
table.aliases,table.aliases tbody,table.aliases tr,table.aliases th,table.aliases td{display:block;width:100%}
table.aliases thead{display:none}table.aliases tr{border:1px solid var(--line);border-radius:4px;margin:.5rem 0;padding:.2rem 0}
table.aliases th,table.aliases td{border:0}table.aliases tbody th{background:none;font-size:1.05rem}
table.aliases td[data-label]::before{content:attr(data-label);display:block;font-size:12px;color:var(--muted)}
.bar{min-width:0}
}
time,.nowrap{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar span a{color:#fff}
.notice .advice{color:var(--fg);margin:.2rem 0 0}
ul.rules{margin:0;padding-left:1.1rem}
details.more{display:inline-block}details.more summary{cursor:pointer;color:var(--accent);font-size:12px}
svg.plot{display:block;width:100%;height:auto;margin:.4rem 0}
textarea{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12.5px}
form.edit{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:.6rem;align-items:start;margin:.4rem 0}
form.edit .actions{grid-column:1/-1}
svg.lineage-graph{display:block;max-width:100%;height:auto;margin:.4rem 0}svg.lineage-graph a:focus rect{stroke:#0550ae;stroke-width:3}
`;

/** Local times with UTC on hover, copy buttons, and the model page's live aliases. */
export const SCRIPT = `
(function(){
  function localize(root){
    root.querySelectorAll("time[datetime]").forEach(function(t){
      var d=new Date(t.getAttribute("datetime"));
      if(isNaN(d))return;
      var opts={month:"short",day:"numeric",hour:"2-digit",minute:"2-digit",second:"2-digit",timeZoneName:"short"};
      if(d.getFullYear()!==new Date().getFullYear())opts.year="numeric";
      t.textContent=d.toLocaleString(undefined,opts);
      t.title=d.toLocaleString(undefined,{dateStyle:"full",timeStyle:"long"})+" — "+d.toISOString().replace("T"," ").replace(/\\.\\d+Z$/," UTC");
    });
  }
  localize(document);
  document.addEventListener("click",function(e){
    var b=e.target.closest&&e.target.closest("button[data-copy]");
    if(!b)return;
    e.preventDefault();
    navigator.clipboard.writeText(b.getAttribute("data-copy")).then(function(){b.textContent="copied";setTimeout(function(){b.textContent="copy"},1200)});
  });
  var body=document.body, model=body.getAttribute("data-model");
  if(!model)return;
  var live=document.getElementById("live");
  function link(v,text){var a=document.createElement("a");a.href="/m/"+encodeURIComponent(model)+"/v/"+v;a.textContent=text;return a}
  document.querySelectorAll("[data-watch-alias]").forEach(function(row){
    var alias=row.getAttribute("data-watch-alias"), cell=row.querySelector("[data-alias-value]"), delay=500;
    function connect(){
      var ws=new WebSocket((location.protocol==="https:"?"wss://":"ws://")+location.host+"/v1/models/"+encodeURIComponent(model)+"/aliases/"+encodeURIComponent(alias)+"/watch");
      ws.onopen=function(){delay=500;if(live)live.textContent="live"};
      ws.onmessage=function(m){
        var e;try{e=JSON.parse(m.data)}catch(_){return}
        if(e.event==="current"&&String(e.generation)===row.getAttribute("data-generation"))return;
        row.setAttribute("data-generation",String(e.generation));
        cell.textContent="";
        if(e.split&&e.split.length){
          var bar=document.createElement("div");bar.className="bar";
          e.split.forEach(function(s){var sp=document.createElement("span");sp.style.width=s.weight+"%";sp.appendChild(link(s.version,"v"+s.version+" "+s.weight+"%"));bar.appendChild(sp)});
          cell.appendChild(bar);
        }else if(e.version===null){
          cell.textContent="(unset)";
        }else{
          cell.appendChild(link(e.version,"v"+e.version));
        }
        row.setAttribute("data-version",e.version===null?"":String(e.version));
        if(e.event!=="current"&&live)live.textContent=alias+" → "+(e.version===null?"unset":"v"+e.version)+" ("+e.event+") at "+new Date().toLocaleTimeString();
      };
      ws.onclose=function(e){
        // 4001: the session's token expired; reconnecting would only be refused.
        if(e.code===4001){if(live)live.textContent="session expired: reload to sign in";return}
        if(live)live.textContent="reconnecting…";setTimeout(connect,delay);delay=Math.min(delay*2,10000);
      };
    }
    connect();
  });
})();
`;

/* Vantage loader: <script async src="https://COLLECTOR/v1/loader.js" data-site="KEY" [data-sample="0.1"]></script>
   Honors DNT, GPC, localStorage vantage-optout=1, skips automation (unless data-allow-automation),
   hidden and prerendering pages; after load + idle adds one hidden frame from our origin. */
(function (w, d, n) {
  var s = d.currentScript, a = function (k) { return s.getAttribute('data-' + k) }, site, o, p;
  if (!s) return;
  site = a('site'); p = a('sample');
  try { o = new URL(s.src).origin; if (localStorage.getItem('vantage-optout') == '1') return } catch (e) { if (!o) return }
  if (!site || n.doNotTrack == '1' || w.doNotTrack == '1' || n.globalPrivacyControl ||
      (n.webdriver && a('allow-automation') == null) || !(Math.random() < (p == null ? .1 : +p))) return;
  function go() {
    (w.requestIdleCallback || setTimeout)(function () {
      if (d.visibilityState == 'hidden' || d.prerendering) return;
      var f = d.createElement('iframe');
      f.setAttribute('sandbox', 'allow-scripts allow-same-origin');
      f.setAttribute('aria-hidden', 'true');
      f.referrerPolicy = 'no-referrer';
      f.loading = 'eager';
      f.title = 'Vantage';
      f.tabIndex = -1;
      f.style.cssText = 'position:fixed;left:0;top:0;width:0;height:0;border:0;opacity:0;pointer-events:none';
      f.src = o + '/v1/frame.html?site=' + encodeURIComponent(site);
      d.body.appendChild(f);
    }, { timeout: 5e3 });
  }
  d.readyState == 'complete' ? go() : w.addEventListener('load', go);
})(window, document, navigator);

/* Vantage loader (docs: README.md "Embedding", ARCHITECTURE.md). No-op under DNT, GPC,
   vantage-optout, automation, sampling-out or within 10 min of the last run; else one frame. */
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
      // 10-minute rule here too: the frame may get no third-party storage (ARCHITECTURE.md)
      try { if (Date.now() - localStorage.getItem('vantage-l') < 6e5) return; localStorage.setItem('vantage-l', Date.now()) } catch (e) {}
      var f = d.createElement('iframe');
      f.setAttribute('sandbox', 'allow-scripts allow-same-origin');
      f.setAttribute('aria-hidden', 'true');
      f.referrerPolicy = 'no-referrer';
      f.loading = 'eager';
      f.title = 'Vantage';
      f.tabIndex = -1;
      f.style.cssText = 'position:fixed;left:0;top:0;width:0;height:0;border:0;opacity:0;pointer-events:none';
      f.src = o + '/v1/frame.html?site=' + encodeURIComponent(site);
      w.addEventListener('message', function (e) { if (e.origin == o && e.data == 'vantage-retry') try { localStorage.removeItem('vantage-l') } catch (x) {} });
      d.body.appendChild(f);
    }, { timeout: 5e3 });
  }
  d.readyState == 'complete' ? go() : w.addEventListener('load', go);
})(window, document, navigator);

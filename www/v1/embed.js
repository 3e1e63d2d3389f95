/* Vantage embed (served as /v1/embed.js): the live badge frames and the consent line. The loader
   adds this script after the host page's `load` event, and only when the snippet asks for a badge
   (data-live, or a [data-vantage-live] element) or a consent UI (data-consent="notice|opt-in") is
   still to be shown; everyone else downloads nothing of it. README.md "Embedding" and "Consent".

   Host-page rules: elements are built with createElement and styled through the CSSOM only
   (el.style.x), which a strict style-src allows; nothing is fetched; the only storage is the host's
   localStorage keys vantage-optout ("1") and vantage-consent ("yes" after Agree, "notice" after a
   notice was dismissed). Hosts may restyle the line through its class names (vantage-consent*). */
(function (w, d, n) {
  'use strict';
  var me = d.currentScript;
  if (!me) return;
  var src = new URL(me.src);
  var O = src.origin;
  // What the loader decided: '' or '0' = no consent UI, 'notice' = the notice, anything else = opt-in.
  var mode = decodeURIComponent(src.hash.slice(1));
  if (mode === '0') mode = '';

  // The loader's own script element carries the attributes.
  var loader = null;
  for (var i = 0; i < d.scripts.length; i++) {
    var s = d.scripts[i];
    try {
      var u = new URL(s.src);
      if (u.origin === O && u.pathname === '/v1/loader.js') { loader = s; break; }
    } catch (e) { /* inline script */ }
  }
  var attr = function (el, k) { return el ? el.getAttribute('data-' + k) : null; };

  var TEXT = {
    en: {
      notice: 'This site measures whether social media is reachable from your browser, anonymously.',
      ask: 'May this site measure, anonymously, whether social media is reachable from your browser?',
      more: 'What is measured and the risks',
      optout: 'Opt out',
      agree: 'Agree',
      decline: 'No thanks',
      close: 'Close',
      dismiss: 'Dismiss this notice',
      done: 'You opted out: nothing is measured from this browser on this site.',
      region: 'Measurement notice',
      badge: 'Live status of {platforms} in {country} (Vantage)',
    },
    ur: {
      notice: 'یہ ویب سائٹ گمنام طور پر جانچتی ہے کہ آپ کے براؤزر سے سوشل میڈیا تک رسائی ہے یا نہیں۔',
      ask: 'کیا یہ ویب سائٹ گمنام طور پر جانچ سکتی ہے کہ آپ کے براؤزر سے سوشل میڈیا تک رسائی ہے یا نہیں؟',
      more: 'کیا ناپا جاتا ہے اور اس کے خطرات',
      optout: 'شرکت نہ کریں',
      agree: 'متفق ہوں',
      decline: 'نہیں، شکریہ',
      close: 'بند کریں',
      dismiss: 'یہ اطلاع بند کریں',
      done: 'آپ نے انکار کر دیا: اس ویب سائٹ پر اس براؤزر سے کچھ نہیں ناپا جائے گا۔',
      region: 'پیمائش کی اطلاع',
      badge: '{country} میں {platforms} کی تازہ صورتحال (وانٹیج)',
    },
  };
  var RTL = { ur: 1 };
  // The consent line's face in Urdu: Nastaliq, else Naskh, from the reader's own fonts only (the
  // same stack as states.css), with the taller line Nastaliq needs.
  var FONTS = { ur: '"Noto Nastaliq Urdu", "Jameel Noori Nastaleeq", "Urdu Typesetting", "Noto Naskh Arabic", "Noto Sans Arabic", system-ui, serif' };

  /** data-lang if we have it, else the first of the reader's languages we have, else English. */
  function pickLang(asked) {
    var list = [asked].concat(n.languages || [n.language]);
    for (var j = 0; j < list.length; j++) {
      var base = String(list[j] || '').toLowerCase().split('-')[0];
      if (TEXT[base]) return base;
    }
    return 'en';
  }

  function store(k, v) { try { localStorage.setItem(k, v); } catch (e) { /* no storage: this view only */ } }

  function make(tag, props, css) {
    var e = d.createElement(tag);
    for (var k in props) if (props[k] != null) e[k] = props[k];
    for (var c in css) e.style[c] = css[c];
    return e;
  }

  // ---- live badge ------------------------------------------------------------------------------

  var PLATFORM = /^[a-z0-9._-]{1,32}$/;
  var NAMES = { x: 'X', facebook: 'Facebook', instagram: 'Instagram', youtube: 'YouTube', whatsapp: 'WhatsApp',
    tiktok: 'TikTok', telegram: 'Telegram', wikipedia: 'Wikipedia' };

  function badgeFrame(platforms, country, lang) {
    var list = String(platforms || '').split(',').map(function (p) { return p.trim().toLowerCase(); })
      .filter(function (p) { return PLATFORM.test(p); }).slice(0, 8);
    var cc = String(country || '').trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(cc)) return null;
    var q = new URLSearchParams({ country: cc });
    if (list.length) q.set('platforms', list.join(','));
    if (lang && /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/.test(lang)) q.set('lang', lang);
    var l = pickLang(lang);
    var name = cc;
    try { name = new Intl.DisplayNames([l], { type: 'region' }).of(cc) || cc; } catch (e) { /* old browser */ }
    var f = make('iframe', {
      title: TEXT[l].badge.replace('{platforms}', list.map(function (p) { return NAMES[p] || p; }).join(', ') || '…').replace('{country}', name),
      referrerPolicy: 'no-referrer',
      loading: 'lazy',
      width: 320,
      height: 60,
      className: 'vantage-badge',
    }, { border: '0', maxWidth: '100%', display: 'block', colorScheme: 'light' });
    // Scripts and its own origin (it reads our API), and a new tab for its link; never the host's
    // top window, forms or downloads.
    f.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-popups');
    f.src = O + '/v1/badge?' + q;
    if (!badgeFrames.length) w.addEventListener('message', onBadgeSize);
    badgeFrames.push(f);
    return f;
  }

  // The badge page posts its content height; its frame takes it, within these bounds (CSS px), so
  // 1 to 8 platforms in any language fit without clipping, and no page can make a frame huge.
  var BADGE_MIN_H = 32;
  var BADGE_MAX_H = 240;
  var badgeFrames = [];

  /** Sizes a badge frame we made to its content: only our origin, only from that frame's window. */
  function onBadgeSize(e) {
    var h = e.data && e.data.vantage === 'badge-size' ? Math.ceil(Number(e.data.height)) : NaN;
    if (e.origin !== O || !isFinite(h)) return;
    for (var k = 0; k < badgeFrames.length; k++) {
      if (badgeFrames[k].contentWindow === e.source) {
        badgeFrames[k].height = String(Math.min(BADGE_MAX_H, Math.max(BADGE_MIN_H, h)));
        return;
      }
    }
  }

  function badges() {
    var live = attr(loader, 'live');
    if (loader && live) {
      var f = badgeFrame(live, attr(loader, 'country'), attr(loader, 'lang'));
      if (f) {
        // Where the snippet stands; from <head>, at the end of the body.
        if (loader.parentNode && loader.parentNode !== d.head) loader.parentNode.insertBefore(f, loader);
        else d.body.appendChild(f);
      }
    }
    var slots = d.querySelectorAll('[data-vantage-live]');
    for (var k = 0; k < slots.length; k++) {
      var slot = slots[k];
      if (slot.getAttribute('data-vantage-done')) continue;
      var g = badgeFrame(attr(slot, 'platforms') || attr(slot, 'vantage-live'), attr(slot, 'country'), attr(slot, 'lang'));
      if (!g) continue;
      slot.setAttribute('data-vantage-done', '1');
      slot.replaceChildren(g);
    }
  }

  // ---- consent line ----------------------------------------------------------------------------

  var BOX = { position: 'fixed', insetInline: '.75rem', bottom: '.75rem', zIndex: '2147483000', maxWidth: '44rem',
    margin: '0 auto', padding: '.6rem .8rem', background: '#ffffff', color: '#1b1b1b', border: '2px solid #1b1b1b',
    borderRadius: '6px', boxShadow: '0 2px 10px rgba(0,0,0,.25)', font: '15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Naskh Arabic", sans-serif',
    textAlign: 'start', display: 'flex', flexWrap: 'wrap', alignItems: 'center', gap: '.4rem .75rem' };
  var BTN = { font: 'inherit', fontWeight: '600', padding: '.3rem .8rem', minHeight: '2.2rem', borderRadius: '4px',
    border: '2px solid #0b5cad', cursor: 'pointer', margin: '0' };
  var PRIMARY = { background: '#0b5cad', color: '#ffffff' };
  var SECONDARY = { background: '#ffffff', color: '#0b5cad' };

  function button(label, look, cls, onClick, aria) {
    var css = {};
    var k;
    for (k in BTN) css[k] = BTN[k];
    for (k in look) css[k] = look[k];
    var b = make('button', { type: 'button', textContent: label, className: 'vantage-consent-' + cls }, css);
    if (aria) b.setAttribute('aria-label', aria);
    b.addEventListener('click', onClick);
    return b;
  }

  function stopMeasuring() {
    store('vantage-optout', '1');
    var frames = d.querySelectorAll('iframe');
    for (var k = 0; k < frames.length; k++) {
      if (frames[k].src.indexOf(O + '/v1/frame.html') === 0) stopFrame(frames[k]);
    }
  }

  /** Tells a measuring frame to stop (it then sends and keeps nothing more), and removes it once
      it says so. Removing it at once would fire its pagehide, which beacons the partial report;
      a frame that does not answer (not started yet, or gone) is removed after 2 s anyway. */
  function stopFrame(f) {
    var gone = function (e) {
      if (e && (e.source !== f.contentWindow || e.data !== 'vantage-stopped')) return;
      w.removeEventListener('message', gone);
      f.remove();
    };
    w.addEventListener('message', gone);
    setTimeout(gone, 2000);
    try { f.contentWindow.postMessage({ vantage: 'stop' }, O); } catch (e) { gone(); }
  }

  function consent() {
    if (!mode) return;
    var l = pickLang(attr(loader, 'lang'));
    var t = TEXT[l];
    var optIn = mode !== 'notice';
    var box = make('aside', { className: 'vantage-consent', lang: l, dir: RTL[l] ? 'rtl' : 'ltr' }, BOX);
    if (FONTS[l]) { box.style.fontFamily = FONTS[l]; box.style.lineHeight = '1.9'; }
    box.setAttribute('aria-label', t.region);
    box.setAttribute('data-vantage-consent-mode', optIn ? 'opt-in' : 'notice');
    var slot = d.querySelector('[data-vantage-consent]');
    if (slot) { // the host chose where: in the flow of the page
      box.style.position = 'static';
      box.style.boxShadow = 'none';
    }
    var text = make('p', { className: 'vantage-consent-text', textContent: (optIn ? t.ask : t.notice) + ' ' },
      { margin: '0', flex: '1 1 18rem' });
    var link = make('a', { href: O + '/privacy' + (l === 'en' ? '' : '.' + l) + '.html', textContent: t.more, target: '_blank', rel: 'noopener' },
      { color: '#0b5cad', textDecoration: 'underline' });
    text.appendChild(link);
    var actions = make('div', { className: 'vantage-consent-actions' }, { display: 'flex', flexWrap: 'wrap', gap: '.5rem' });
    var close = function () { box.remove(); };
    if (optIn) {
      actions.appendChild(button(t.agree, PRIMARY, 'agree', function () {
        store('vantage-consent', 'yes');
        close();
        w.dispatchEvent(new Event('vantage-consent'));
      }));
      actions.appendChild(button(t.decline, SECONDARY, 'decline', function () { stopMeasuring(); close(); }));
    } else {
      actions.appendChild(button(t.optout, SECONDARY, 'optout', function () {
        stopMeasuring();
        // Say what happened, and keep the focus on something that is still there.
        var done = make('p', { className: 'vantage-consent-text', textContent: t.done }, { margin: '0', flex: '1 1 18rem' });
        done.setAttribute('role', 'status');
        var ok = button(t.close, SECONDARY, 'close', close);
        box.replaceChildren(done, ok);
        ok.focus();
      }));
      actions.appendChild(button('×', SECONDARY, 'dismiss', function () { store('vantage-consent', 'notice'); close(); }, t.dismiss));
    }
    box.append(text, actions);
    // First in the tab order (shown at the bottom): keyboard users meet it before the article.
    if (slot) slot.replaceChildren(box);
    else d.body.insertBefore(box, d.body.firstChild);
  }

  badges();
  consent();
})(window, document, navigator);

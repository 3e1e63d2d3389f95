// The layout check of layout.test.mjs, run inside the page (playwright serializes the function, so
// it must not use anything from this module's scope).

/**
 * Every rendered element under `rootSelector` whose border box pokes out of its parent's (by more
 * than half a pixel), or whose content is wider or taller than its own box (clipped or spilling),
 * as readable lines. Skipped on purpose: the inside of SVG drawings (icons draw to their edge),
 * visually hidden text (clipped by design), and the horizontal overflow of containers that scroll
 * sideways on purpose (the world map and the networks table on a phone).
 */
export function overflowReport(rootSelector) {
  const SLACK = 0.5;
  const root = document.querySelector(rootSelector);
  const name = (e) => {
    let s = e.tagName.toLowerCase();
    if (e.id) s += `#${e.id}`;
    if (typeof e.className === 'string' && e.className.trim()) s += `.${e.className.trim().split(/\s+/).join('.')}`;
    const p = e.closest('[data-platform]');
    return p && p !== e ? `${s} in [data-platform=${p.dataset.platform}]` : s;
  };
  const scrolls = (e, axis) => ['auto', 'scroll'].includes(getComputedStyle(e)[axis === 'x' ? 'overflowX' : 'overflowY']);
  const hiddenByDesign = (e) => e.closest('.visually-hidden, [hidden], noscript, template') != null
    || getComputedStyle(e).clipPath !== 'none';
  const out = [];
  for (const e of [root, ...root.querySelectorAll('*')]) {
    if (e.closest('svg') && e.tagName.toLowerCase() !== 'svg') continue;
    if (hiddenByDesign(e)) continue;
    const style = getComputedStyle(e);
    if (style.display === 'none' || style.display === 'contents' || !e.getClientRects().length) continue;
    const r = e.getBoundingClientRect();
    const parent = e.parentElement;
    if (parent && e !== root && r.width > 0 && r.height > 0 && getComputedStyle(parent).display !== 'contents') {
      const p = parent.getBoundingClientRect();
      const sides = [];
      if (!scrolls(parent, 'x')) {
        if (r.left < p.left - SLACK) sides.push(`left by ${(p.left - r.left).toFixed(1)}`);
        if (r.right > p.right + SLACK) sides.push(`right by ${(r.right - p.right).toFixed(1)}`);
      }
      if (!scrolls(parent, 'y')) {
        if (r.top < p.top - SLACK) sides.push(`top by ${(p.top - r.top).toFixed(1)}`);
        if (r.bottom > p.bottom + SLACK) sides.push(`bottom by ${(r.bottom - p.bottom).toFixed(1)}`);
      }
      if (sides.length) out.push(`${name(e)} overflows ${name(parent)}: ${sides.join(', ')}`);
    }
    // Content wider or taller than the box: spilling text (nowrap pills) or clipped content.
    const tag = e.tagName.toLowerCase();
    if (tag === 'html' || tag === 'select' || tag === 'svg') continue;
    if (!scrolls(e, 'x') && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0) {
      out.push(`${name(e)}: content ${e.scrollWidth}px wide in a ${e.clientWidth}px box`);
    }
    if (!scrolls(e, 'y') && e.scrollHeight > e.clientHeight + 1 && e.clientHeight > 0) {
      out.push(`${name(e)}: content ${e.scrollHeight}px tall in a ${e.clientHeight}px box`);
    }
  }
  return out;
}

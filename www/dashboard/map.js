// The world as a tile grid: one labelled button per country, coloured and patterned by the worst
// platform state there. Positions come from tiles.js; grid placement is set through CSSOM.
import { el } from '/assets/vantage.js';
import { COLS, ROWS, TILES } from './tiles.js';

const tiles = new Map();

export function renderMap(box, { i18n, onSelect }) {
  box.style.gridTemplateColumns = `repeat(${COLS}, minmax(0, 1fr))`;
  box.style.gridTemplateRows = `repeat(${ROWS}, auto)`;
  box.setAttribute('dir', 'ltr'); // a map does not mirror
  box.parentElement?.setAttribute('dir', 'ltr');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', i18n.t('map_heading'));
  const frag = document.createDocumentFragment();
  for (const [cc, [c, r]] of Object.entries(TILES)) {
    const b = el('button', { type: 'button', class: 'tile state-none', 'data-cc': cc, 'aria-pressed': 'false', onclick: () => onSelect(cc) }, cc);
    b.style.gridColumn = String(c + 1);
    b.style.gridRow = String(r + 1);
    b.setAttribute('aria-label', i18n.t('map_tile', { country: i18n.country(cc), code: cc, state: i18n.state(null) }));
    b.title = i18n.country(cc);
    tiles.set(cc, b);
    frag.append(b);
  }
  box.replaceChildren(frag);
}

/** Paints every tile from `countries` (Map cc → {state}) and marks the selected one. */
export function updateMap(box, countries, selected, i18n) {
  for (const [cc, b] of tiles) {
    const state = countries.get(cc)?.state ?? null;
    const cls = `tile state-${state ?? 'none'}${cc === selected ? ' selected' : ''}`;
    if (b.className !== cls) {
      b.className = cls;
      b.dataset.state = state ?? 'none';
      b.setAttribute('aria-label', i18n.t('map_tile', { country: i18n.country(cc), code: cc, state: i18n.state(state) }));
    }
    b.setAttribute('aria-pressed', String(cc === selected));
  }
  // On a narrow screen the map scrolls sideways: keep the selected country in view.
  const tile = tiles.get(selected);
  const scroller = box.parentElement;
  if (tile && scroller && scroller.scrollWidth > scroller.clientWidth && box.dataset.centred !== selected) {
    box.dataset.centred = selected;
    scroller.scrollLeft = tile.offsetLeft - box.offsetLeft - scroller.clientWidth / 2 + tile.offsetWidth / 2;
  }
}

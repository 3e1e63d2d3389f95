// Tile-grid world map: one square per country (UN members and TW, PS, XK, HK), column,row on a
// 38×20 grid. Generated once from the world-countries npm package (5.1.0, ODbL): each
// country's centre (lat/lng) is projected with Europe and the Middle East stretched, then countries
// are placed largest first in the nearest free cell. Nothing is fetched at run time.
export const COLS = 38;
export const ROWS = 20;
const PACKED = `
AD:17,6 AE:26,9 AF:27,8 AG:10,9 AL:20,7 AM:25,7 AO:20,15 AR:10,18 AT:20,5 AU:34,17 AZ:25,6
BA:19,5 BB:12,10 BD:29,9 BE:18,4 BF:17,11 BG:22,6 BH:27,10 BI:22,14 BJ:18,12 BN:31,12 BO:10,15
BR:11,14 BS:8,9 BT:30,9 BW:21,16 BY:22,3 BZ:7,10 CA:7,2 CD:22,13 CF:21,12 CG:20,13 CH:18,5
CI:16,12 CL:9,17 CM:19,12 CN:31,8 CO:9,12 CR:8,12 CU:9,10 CV:13,11 CY:22,8 CZ:20,4 DE:19,4
DJ:25,12 DK:19,3 DM:11,10 DO:10,10 DZ:18,9 EC:9,13 EE:21,2 EG:23,9 ER:24,11 ES:16,7 ET:24,12
FI:22,1 FJ:37,15 FM:36,12 FR:17,5 GA:19,13 GB:17,3 GD:10,13 GE:24,6 GH:17,12 GM:14,10 GN:15,11
GQ:18,13 GR:21,7 GT:7,11 GW:16,11 GY:11,12 HK:32,10 HN:8,10 HR:20,6 HT:9,9 HU:21,5 ID:32,14
IE:16,3 IL:24,9 IN:28,10 IQ:25,8 IR:26,8 IS:14,0 IT:19,6 JM:10,11 JO:23,8 JP:34,8 KE:24,13
KG:28,6 KH:32,11 KI:37,13 KM:25,15 KN:11,9 KP:33,7 KR:33,8 KW:25,10 KZ:27,5 LA:31,11 LB:24,7
LC:12,11 LI:20,3 LK:29,12 LR:15,12 LS:22,17 LT:21,3 LU:17,4 LV:22,2 LY:20,9 MA:16,8 MC:17,7
MD:23,5 ME:19,7 MG:25,16 MH:37,12 MK:22,7 ML:16,10 MM:30,10 MN:31,5 MR:15,10 MT:20,8 MU:26,16
MV:28,12 MW:24,15 MX:6,10 MY:32,12 MZ:23,15 NA:20,16 NE:19,11 NG:18,11 NI:8,11 NL:18,3 NO:19,1
NP:29,8 NR:36,13 NZ:37,19 OM:26,10 PA:9,11 PE:9,14 PG:35,14 PH:33,11 PK:28,8 PL:21,4 PS:22,9
PT:15,7 PW:34,12 PY:11,16 QA:27,9 RO:22,5 RS:21,6 RU:30,2 RW:22,12 SA:25,9 SB:36,14 SC:26,13
SD:23,11 SE:20,1 SG:31,13 SI:18,6 SK:22,4 SL:14,12 SM:18,7 SN:14,11 SO:26,11 SR:11,13 SS:23,12
ST:18,14 SV:7,12 SY:24,8 SZ:23,17 TD:21,11 TG:17,13 TH:30,11 TJ:28,7 TL:33,14 TM:27,7 TN:19,8
TO:0,16 TR:23,7 TT:11,11 TV:37,14 TW:32,9 TZ:23,14 UA:23,4 UG:23,13 US:7,7 UY:11,18 UZ:27,6
VA:18,8 VC:12,12 VE:10,12 VN:31,10 VU:36,15 WS:0,15 XK:23,6 YE:25,11 ZA:21,17 ZM:22,15 ZW:23,16
`;
/** { "PK": [col, row], ... } with 0-based columns and rows. */
export const TILES = Object.fromEntries(PACKED.trim().split(/\s+/).map((s) => {
  const [cc, xy] = s.split(":");
  const [c, r] = xy.split(",").map(Number);
  return [cc, [c, r]];
}));

// Copies the swagger-ui-dist files that /docs serves into docs/, from the
// version pinned in package.json. Run `npm ci && npm run vendor`, then commit docs/.
import { copyFileSync } from "node:fs";
import { join } from "node:path";

const from = join("node_modules", "swagger-ui-dist");
const files = [
  "swagger-ui-bundle.js",
  "swagger-ui-bundle.js.LICENSE.txt",
  "swagger-ui.css",
  "favicon-32x32.png",
  "LICENSE",
  "NOTICE",
];
for (const f of files) {
  copyFileSync(join(from, f), join("docs", f));
  console.log(`docs/${f}`);
}

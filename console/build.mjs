// Builds console/dist, the files `kri serve` embeds: the console's own sources
// (src/) and the browser builds of Chart.js and Cytoscape.js from node_modules (run
// `npm ci` first; `make console` does both). The result is committed, so building
// kri needs no npm.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const libraries = {
  "chart.umd.min.js": "node_modules/chart.js/dist/chart.umd.min.js",
  "cytoscape.min.js": "node_modules/cytoscape/dist/cytoscape.min.js",
};

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
for (const file of readdirSync(join(here, "src"))) {
  copyFileSync(join(here, "src", file), join(dist, file));
}
for (const [name, from] of Object.entries(libraries)) {
  copyFileSync(join(here, from), join(dist, name));
}
console.log(`console/dist: ${readdirSync(dist).sort().join(", ")}`);

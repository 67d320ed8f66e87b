/** Before any end-to-end test: the Debian programs they drive are on the machine (./debian.ts). */
import { CHROMIUM, ensureDebianPackages, SKOPEO } from "./debian";

export default function setup(): void {
  ensureDebianPackages([CHROMIUM, SKOPEO]);
}

// The prebuilt-library packages metal-marlin lists as optionalDependencies (@metal-marlin/<id>); npm and
// bun install the one whose os/cpu match. The loader looks for @metal-marlin/<process.platform>-<process.arch>.

/** One prebuilt target. */
export interface Platform {
  id: string;
  os: string;
  cpu: string;
  /** Library file inside the package. */
  file: string;
  /** How it is produced. */
  producedBy: string;
}

/** Every platform package of the layout. */
export const PLATFORMS: readonly Platform[] = [
  {
    id: "linux-x64",
    os: "linux",
    cpu: "x64",
    file: "libmetal_marlin.so",
    producedBy: "scripts/npm/platform.ts",
  },
  {
    id: "linux-arm64",
    os: "linux",
    cpu: "arm64",
    file: "libmetal_marlin.so",
    producedBy: "scripts/npm/platform.ts --arch arm64 (g++-aarch64-linux-gnu)",
  },
  {
    id: "darwin-arm64",
    os: "darwin",
    cpu: "arm64",
    file: "libmetal_marlin.dylib",
    producedBy: "macOS workflow",
  },
];

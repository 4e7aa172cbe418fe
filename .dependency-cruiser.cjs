/**
 * The layer rule of src/ (README, "Layout"): each folder may import only from folders below it,
 * never from one above, and nothing may import in a cycle. Lower first:
 *   util → runtime → data → models → features → detectors → app → evaluation → training → server | batch | web → cli
 * (index.ts, the library's entry, sits on top). bench/ and test/ may import src/, never each other.
 */
const LAYERS = ['util', 'runtime', 'data', 'models', 'features', 'detectors', 'app', 'evaluation', 'training', 'server|batch|web', 'cli'];

const upward = LAYERS.map((layer, i) => ({
  name: `no-upward-from-${layer.replace('|', '-')}`,
  comment: `src/${layer} may only import from the layers below it`,
  severity: 'error',
  from: { path: `^src/(${layer})/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|') || 'index'}|index)(/|\\.ts$)` },
}));

module.exports = {
  forbidden: [
    ...upward,
    // the hosts on one level stay apart: the server, the batch worker and the browser host
    { name: 'hosts-apart', severity: 'error', from: { path: '^src/(server|batch|web)/' }, to: { path: '^src/(server|batch|web)/', pathNot: '^src/$1/' } },
    { name: 'no-cycles', severity: 'error', from: { path: '^src/' }, to: { circular: true } },
    { name: 'bench-not-from-test', comment: 'benchmarks do not borrow test helpers', severity: 'error', from: { path: '^bench/' }, to: { path: '^test/' } },
    { name: 'test-not-from-bench', severity: 'error', from: { path: '^test/' }, to: { path: '^bench/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.dev.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};

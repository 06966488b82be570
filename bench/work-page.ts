// Runs in headless Chromium (driven by `node bin/bench.mjs work`): the registration's proof of
// work as a tab pays it, on the page's main thread, as src/client/swarm-client.ts does.
import { timeBindingWork } from './binding-work.ts';
import { exposeBenchApi } from './page.ts';

export type WorkBenchApi = { bindingWork: typeof timeBindingWork };

exposeBenchApi<WorkBenchApi>({ bindingWork: timeBindingWork });

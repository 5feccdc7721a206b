// Must NOT type-check (test/types.test.js): the declarations catch misuse.
import { DropinClient } from '../index.js';

const c = new DropinClient('ws://x/ws');
// a known op with a wrong field type
c.call('gig.claim', { gigId: 'x', response: 'maybe' });

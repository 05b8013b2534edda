import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// findBy and waitFor wait up to 10 s (1 s by default): enough on a busy machine, still a bound.
configure({ testIdAttribute: 'data-test', asyncUtilTimeout: 10_000 });

// The splice result as the page renders it: loss recovered with its standard error, the number of
// predictions (and documents) behind it, the hook it was spliced at, the hint when predictions are
// few, and the warning when the SAE belongs at another hook.
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { SpliceEvaluation } from '../../data/languageModel';
import { SpliceResult, formatSe } from './SpliceResult';

function evaluation(predictions: number, documents: number, over: Partial<SpliceEvaluation> = {}): SpliceEvaluation {
  return {
    ce_clean: 1.9, predictions, documents, tokens: predictions + 2 * documents, seconds: 1.5,
    groups: [{ sites: [3], ce: 2.0, kl: 0.08, ce_zero: 6.2, kl_zero: 4, ce_mean: 4.1, kl_mean: 2, loss_recovered: 0.9767, loss_recovered_vs_mean: 0.9545, loss_recovered_se: 0.01234, loss_recovered_vs_mean_se: 0.0211, replaced_fraction: 1 }],
    per_document: { predictions: [], ce_clean: [], groups: [] },
    text: 'the 3 validation documents of stories_valid.txt (3 documents, 1,040 tokens)', sites: [3], siteNames: ['blocks.3.hook_resid_pre'],
    ...over,
  };
}

const render = (e: SpliceEvaluation) => renderToStaticMarkup(createElement(SpliceResult, { state: { pending: false, evaluation: e }, testId: 't' }))
  .replace(/<!-- -->/g, '');
const text = (html: string) => html.replace(/<[^>]+>/g, '');

describe('SpliceResult', () => {
  it('shows loss recovered ± its standard error, the predictions and documents, and the hook', () => {
    const html = render(evaluation(1034, 3));
    expect(html).toContain('data-testid="loss-recovered">0.9767</strong>');
    expect(html).toMatch(/data-testid="loss-recovered-se">± 0\.012</);
    expect(text(html)).toContain('0.9545 ± 0.021');
    expect(text(html)).toContain('over 1,034 predictions of the 3 validation documents of stories_valid.txt (3 documents, 1,040 tokens)');
    expect(text(html)).toContain('spliced at blocks.3.hook_resid_pre');
    expect(html).toContain('data-testid="splice-few"');
    expect(text(html)).toContain('Few predictions (1,034): loss recovered is noisy');
  });

  it('no hint from 5,000 predictions on; n/a from one document; the warning of a mismatched hook', () => {
    expect(render(evaluation(5000, 20))).not.toContain('splice-few');
    expect(text(render(evaluation(6000, 1, { groups: [{ ...evaluation(1, 1).groups[0], loss_recovered_se: NaN }] })))).toContain('0.9767 ± n/a');
    const warned = render(evaluation(6000, 20, { warning: 'the SAE belongs at blocks.3.hook_resid_pre (its cfg.json\'s hook_name) but is spliced at blocks.0.hook_resid_pre: loss recovered there says little about it.' }));
    expect(warned).toMatch(/data-testid="splice-warning">the SAE belongs at blocks\.3\.hook_resid_pre/);
  });

  it('formatSe keeps two significant digits', () => {
    expect(formatSe(0.012345)).toBe('± 0.012');
    expect(formatSe(0.1)).toBe('± 0.1');
    expect(formatSe(Infinity)).toBe('± n/a');
  });
});

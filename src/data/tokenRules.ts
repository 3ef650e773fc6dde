// Guidance labels from a rule on each row's token, the other source of labels besides a labels
// file (io/labels.ts; docs/training.md). Pieces are as our vocab files show them: SentencePiece's
// ▁ is a leading space, so
// "begins with a capital letter" is the regex ^ ?[A-Z].

export type TokenRule = { kind: 'piece'; piece: string } | { kind: 'regex'; pattern: string; flags?: string };

export class TokenRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRuleError';
  }
}

/** 1 for rows whose token's piece satisfies the rule, else 0; one label per row of `tokens`. */
export function labelsFromTokenRule(tokens: Int32Array, vocab: string[], rule: TokenRule): Float32Array {
  // The rule is evaluated once per vocab entry (hundreds to ~10⁵), not once per row (up to millions).
  const matches = matchesPerPiece(vocab, rule);
  const labels = new Float32Array(tokens.length);
  for (let row = 0; row < tokens.length; row++) {
    const id = tokens[row];
    if (!(id >= 0 && id < vocab.length)) {
      throw new TokenRuleError(`row ${row} has token id ${id}, outside the vocab of ${vocab.length} entries (ids 0..${vocab.length - 1}); load the vocab that belongs to these tokens.`);
    }
    labels[row] = matches[id];
  }
  return labels;
}

/** A short description for the UI and the run log, e.g. `token matches /^ ?[A-Z]/`. */
export function describeTokenRule(rule: TokenRule): string {
  // JSON quoting makes a leading space or a newline in the piece visible.
  return rule.kind === 'piece' ? `token is ${JSON.stringify(rule.piece)}` : `token matches /${rule.pattern}/${rule.flags ?? ''}`;
}

function matchesPerPiece(vocab: string[], rule: TokenRule): Uint8Array {
  let test: (piece: string) => boolean;
  if (rule.kind === 'piece') test = (piece) => piece === rule.piece;
  else {
    const re = compile(rule.pattern, rule.flags);
    test = (piece) => re.test(piece);
  }
  return Uint8Array.from(vocab, (piece) => (test(piece) ? 1 : 0));
}

function compile(pattern: string, flags = ''): RegExp {
  // g and y make RegExp.test stateful (lastIndex carries over between pieces); a per-piece match
  // needs neither, so they are dropped rather than rejected.
  const stateless = flags.replace(/[gy]/g, '');
  try {
    return new RegExp(pattern, stateless);
  } catch (e) {
    throw new TokenRuleError(`the token rule /${pattern}/${flags} is not a valid regular expression: ${(e as Error).message}`);
  }
}

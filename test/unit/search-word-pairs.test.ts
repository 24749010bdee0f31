import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairTokensQuery, phrasePairs } from '../../db/queries/search-transcripts.ts';

// The inputs are audio_pipeline_any_language_tsquery's text for a query (every language's parse,
// ORed), as PostgreSQL prints it.

test('phrasePairs: every parse of a phrase gives its pairs, ORed', () => {
  assert.deepEqual(phrasePairs(`'bes' <-> 'frien' | 'best' <-> 'friend' | 'best' <-> 'friendi'`), [
    ['bes frien'],
    ['best friend'],
    ['best friendi'],
  ]);
  // a longer phrase needs all of its pairs; a word beside it (&) adds none
  assert.deepEqual(
    phrasePairs(`'best' <-> 'friend' <-> 'forev' & 'coffe' | 'best' <-> 'friends' <-> 'forev' & 'coffe'`),
    [
      ['best friend', 'friend forev'],
      ['best friends', 'friends forev'],
    ],
  );
  // a stop word in the middle (<2>) breaks the pair before it, not the one after it
  assert.deepEqual(phrasePairs(`'best' <-> 'friend' | 'it' <2> 'bes' <-> 'frien'`), [
    ['best friend'],
    ['bes frien'],
  ]);
  // the same branch twice once; a quote undoubled (the server makes the pair's token)
  assert.deepEqual(phrasePairs(`'it''s' <-> 'fine' | 'it''s' <-> 'fine'`), [["it's fine"]]);
});

test('phrasePairs: undefined when some parse has no pair, or for what it does not read', () => {
  // "you know": English drops "you", so an English transcript matches on 'know' alone
  assert.equal(phrasePairs(`'know' | 'yo' <-> 'know' | 'you' <-> 'know'`), undefined);
  assert.equal(phrasePairs(`'best' & 'friend'`), undefined); // not a phrase
  assert.equal(phrasePairs(`'best' <-> 'friend' & !'coffe'`), undefined); // a negation
  assert.equal(phrasePairs(`( 'a' | 'b' ) <-> 'c'`), undefined); // parentheses
  assert.equal(phrasePairs(`'best':* <-> 'friend'`), undefined); // a prefix
  assert.equal(phrasePairs(''), undefined);
});

test('pairTokensQuery: the branches as a tsquery of tokens, repeated tokens once', () => {
  const tokens = new Map([
    ['best friend', '~17'],
    ['friend forev', '~5'],
    ['best friends', '~17'], // another pair in the same bucket
  ]);
  assert.equal(
    pairTokensQuery(
      [
        ['best friend', 'friend forev'],
        ['best friends', 'friend forev'],
      ],
      tokens,
    ),
    `'~17' & '~5'`,
  );
  assert.equal(pairTokensQuery([['best friend'], ['friend forev']], tokens), `'~17' | '~5'`);
  assert.equal(
    pairTokensQuery([['best friend', 'friend forev'], ['friend forev']], tokens),
    `('~17' & '~5') | '~5'`,
  );
});

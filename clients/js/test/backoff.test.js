// Unit tests of the full-jitter backoff.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { DEFAULT_RECONNECT, DEFAULT_RETRY, backoffCeiling, backoffDelay } from '../src/index.js'

describe('backoff', () => {
  test('the ceiling doubles from minMs and stops at maxMs (500 ms → 20 s by default)', () => {
    assert.deepEqual(DEFAULT_RECONNECT, { minMs: 500, maxMs: 20000 })
    assert.deepEqual(DEFAULT_RETRY, { minMs: 50, maxMs: 1000 })
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 7, 100, 10000].map((n) => backoffCeiling(n))
    assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000, 20000])
    assert.equal(backoffCeiling(-3), 500, 'a negative attempt counts as the first')
    assert.equal(backoffCeiling(3, { minMs: 0, maxMs: 0 }), 0)
  })

  test('delays are whole milliseconds within [0, ceiling] at the extremes of the random source', () => {
    for (const n of [0, 1, 4, 6, 30]) {
      const ceiling = backoffCeiling(n)
      assert.equal(backoffDelay(n, DEFAULT_RECONNECT, () => 0), 0, `attempt ${n}: random 0 gives no wait`)
      assert.equal(backoffDelay(n, DEFAULT_RECONNECT, () => 1 - Number.EPSILON), ceiling, `attempt ${n}: the top of the range is the ceiling`)
      assert.equal(backoffDelay(n, DEFAULT_RECONNECT, () => 0.5), Math.floor(0.5 * (ceiling + 1)))
    }
  })

  test('full jitter: random delays spread over the whole range and never leave it', () => {
    const samples = 2000
    for (const n of [0, 3, 8]) {
      const ceiling = backoffCeiling(n)
      let low = 0
      let high = 0
      for (let i = 0; i < samples; i++) {
        const d = backoffDelay(n)
        assert.ok(Number.isInteger(d) && d >= 0 && d <= ceiling, `attempt ${n}: delay ${d} outside [0, ${ceiling}]`)
        if (d < ceiling / 4) low++
        if (d > (3 * ceiling) / 4) high++
      }
      // Uniform over [0, ceiling]: about a quarter of the samples in each
      // outer quarter. (Equal jitter, [ceiling/2, ceiling], would put none
      // in the lower one.)
      assert.ok(low > samples / 8 && high > samples / 8, `attempt ${n}: ${low} low and ${high} high samples of ${samples}`)
    }
  })

  test('custom bounds', () => {
    const b = { minMs: 10, maxMs: 100 }
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffCeiling(n, b)), [10, 20, 40, 80, 100, 100])
    for (let i = 0; i < 200; i++) assert.ok(backoffDelay(5, b) <= 100)
  })
})

/** The manifest YAML writer, read back by an independent YAML parser: exactly what went in. */
import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { toYaml } from './yaml.js';

describe('toYaml', () => {
  it('writes arbitrary JSON values that a YAML parser reads back unchanged', () => {
    const text = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('yes', 'No', 'on', 'OFF', 'y', 'null', '~', '-', '- a', '0x1F', '1e3', '.inf', '070', '', ' a', 'a: b', '#x', '"', "'", '\u0085', '\u2028', '\u007f', '\ufeff', 'é'));
    const value = fc.letrec((tie) => ({
      json: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), text, tie('arr'), tie('obj')),
      arr: fc.array(tie('json'), { maxLength: 4 }),
      obj: fc.dictionary(text, tie('json'), { maxKeys: 4 }),
    })).json;
    fc.assert(
      fc.property(value, (v) => {
        const normal = JSON.parse(JSON.stringify(v));
        expect(parse(toYaml(normal))).toEqual(normal);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('writes Kubernetes-style block YAML', () => {
    expect(toYaml({ apiVersion: 'apps/v1', spec: { count: 2, n: 'n', list: [{ a: '70', b: true }, 'x'], empty: [], none: null, cron: '0 8 * * 1-5' } })).toBe(
      'apiVersion: apps/v1\nspec:\n  count: 2\n  "n": "n"\n  list:\n    - a: "70"\n      b: true\n    - x\n  empty: []\n  none: null\n  cron: "0 8 * * 1-5"\n',
    );
  });
});

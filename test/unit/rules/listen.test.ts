// Listen addresses: which ones only this machine can reach (L11's warning is for the others).
import { describe, expect, it } from 'vitest';
import { isLoopback, parseListen } from '../../../src/rules/listen.js';

describe('isLoopback', () => {
  it('L11: 127/8, ::1 and localhost are loopback; every interface, a LAN address or a name are not', () => {
    for (const text of ['127.0.0.1:9701', '127.1.2.3:1', '[::1]:9701', 'localhost:9701', 'LOCALHOST:1', '[::ffff:127.0.0.1]:1']) {
      expect(isLoopback(parseListen(text).host), text).toBe(true);
    }
    for (const text of [':9701', '0.0.0.0:9701', '[::]:9701', '10.0.0.5:9701', '[fe80::1]:1', 'example.com:1', '127.0.0.1.evil:1']) {
      expect(isLoopback(parseListen(text).host), text).toBe(false);
    }
  });
});

// Exec bytes relayed by the server without a decode and encode: against protobufjs (the
// reference), a relayable message reads as the same object, and its retagged bytes decode on the
// other call as the same output or input, binary bytes exact. Anything else (another channel,
// a field repeated or unknown, trailing bytes, a cut message, a keepalive) is left to protobufjs.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeOutput } from '../../../../src/exec/wire.js';
import { INLINE_KEEPALIVE_BYTES, KEEPALIVE } from '../../../../src/protocol/keepalive.js';
import { protocol } from '../../../../src/protocol/load.js';
import { controlServiceDefinition, waypointServiceDefinition } from '../../../../src/server/api/definition.js';
import { decodeRawInput, decodeRawOutput, entrypointInput, hasRaw, operatorOutput } from '../../../../src/server/exec/relay-wire.js';

const shared = () => protocol().hashicorp.waypoint.Waypoint.service.EntrypointExecStream;
const control = () => protocol().waypoint_entrypoint.control.v1.Control.service.Exec;
const sizes = [0, 1, 127, 128, 16_383, 16_384, 65_536, 300_000];

describe('exec output relayed as received', () => {
  it('reads as protobufjs reads it, and becomes the same ExecResponse.output, bytes exact', () => {
    for (const length of sizes) {
      for (const channel of ['STDOUT', 'STDERR'] as const) {
        const data = randomBytes(length);
        const wire = shared().requestSerialize({ output: { channel, data } });
        const reference = shared().requestDeserialize(wire) as { event: string; output: { channel: string; data: Buffer } };
        const raw = decodeRawOutput(Buffer.from(wire))!;
        expect(raw.event).toBe('output');
        expect(raw.output.channel).toBe(reference.output.channel);
        expect(raw.output.data.equals(reference.output.data)).toBe(true);
        const sent = control().responseDeserialize(operatorOutput(raw)) as { event: string; output: { channel: string; data: Buffer } };
        expect(sent.event).toBe('output');
        expect(sent.output.channel).toBe(channel);
        expect(Buffer.from(sent.output.data).equals(data)).toBe(true);
      }
    }
  });

  it('takes the entrypoint’s own encoding, and the data field before the channel', () => {
    const data = randomBytes(1000);
    expect(decodeRawOutput(encodeOutput('STDERR', data))!.output.data.equals(data)).toBe(true);
    const inner = Buffer.concat([Buffer.from([0x12, 0xe8, 0x07]), data, Buffer.from([0x08, 0x01])]);
    const swapped = Buffer.concat([Buffer.from([0x1a, 0xed, 0x07]), inner]);
    const raw = decodeRawOutput(swapped)!;
    expect(raw.output.channel).toBe('STDOUT');
    expect(raw.output.data.equals(data)).toBe(true);
  });

  it('leaves to protobufjs: another channel, a repeated or unknown field, trailing bytes, a cut message, other events', () => {
    const data = Buffer.from('hello');
    const serialize = (m: object) => Buffer.from(shared().requestSerialize(m as never));
    const out = serialize({ output: { channel: 'STDOUT', data } });
    const cases = [
      serialize({ output: { channel: 'UNKNOWN', data } }), // channel 0: the session maps it to STDOUT
      serialize({ output: { data } }), // no channel at all
      Buffer.concat([Buffer.from([0x1a, out[1] + 2]), out.subarray(2), Buffer.from([0x08, 0x02])]), // channel twice
      Buffer.concat([Buffer.from([0x1a, out[1] + 2]), out.subarray(2), Buffer.from([0x18, 0x01])]), // unknown field 3
      Buffer.concat([out, serialize({ exit: { code: 3 } })]), // a second field: the last oneof wins
      out.subarray(0, out.length - 1), // cut short
      Buffer.from([0x1a, 0x04, 0x08, 0x01, 0x12, 0x09]), // data longer than the message
      Buffer.from([0x1a, 0x02, 0x08, 0xff]), // a varint cut short
      serialize({ exit: { code: 0 } }),
      serialize({ open: { instance_id: 'i', index: '1' } }),
      INLINE_KEEPALIVE_BYTES,
      Buffer.alloc(0),
    ];
    for (const c of cases) expect(decodeRawOutput(c)).toBeUndefined();
  });

  it('is what the server’s definition decodes with; everything else goes the shared way', () => {
    const method = waypointServiceDefinition().EntrypointExecStream;
    const data = randomBytes(70_000);
    const decoded = method.requestDeserialize(encodeOutput('STDOUT', data.subarray(0, 65_536))) as object;
    expect(hasRaw(decoded)).toBe(true);
    expect(method.requestDeserialize(INLINE_KEEPALIVE_BYTES)).toBe(KEEPALIVE);
    const exit = method.requestDeserialize(Buffer.from(shared().requestSerialize({ exit: { code: 7 } }))) as { event: string; exit: { code: number } };
    expect(hasRaw(exit)).toBe(false);
    expect(exit).toMatchObject({ event: 'exit', exit: { code: 7 } });
  });
});

describe('exec input relayed as received', () => {
  it('reads as protobufjs reads it, and becomes the same EntrypointExecResponse.input, bytes exact', () => {
    for (const length of sizes.filter((n) => n > 0)) {
      const data = randomBytes(length);
      const wire = Buffer.from(control().requestSerialize({ input: data }));
      const raw = decodeRawInput(wire)!;
      expect(raw.event).toBe('input');
      expect(raw.input.equals(data)).toBe(true);
      const sent = shared().responseDeserialize(entrypointInput(raw)) as { event: string; input: Buffer };
      expect(sent.event).toBe('input');
      expect(Buffer.from(sent.input).equals(data)).toBe(true);
    }
  });

  it('leaves every other request to protobufjs, and the server’s definition decodes with it', () => {
    const serialize = (m: object) => Buffer.from(control().requestSerialize(m as never));
    const input = serialize({ input: Buffer.from('abc') });
    for (const c of [
      serialize({ start: { app: 'a', args: ['cat'] } }),
      serialize({ input_eof: {} }),
      serialize({ winch: { rows: 1, cols: 2, width: 0, height: 0 } }),
      Buffer.concat([input, serialize({ input_eof: {} })]),
      input.subarray(0, input.length - 1),
    ]) {
      expect(decodeRawInput(c)).toBeUndefined();
    }
    const method = controlServiceDefinition().Exec;
    expect(hasRaw(method.requestDeserialize(input) as object)).toBe(true);
    expect(method.requestDeserialize(serialize({ input_eof: {} }))).toMatchObject({ event: 'input_eof' });
    // Responses: a Buffer goes out as it is, an object is encoded.
    const raw = Buffer.from([0x18, 0x05]);
    expect(method.responseSerialize(raw)).toBe(raw);
    expect(Buffer.from(method.responseSerialize({ exit_code: 5 })).equals(raw)).toBe(true);
  });
});

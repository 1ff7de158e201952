// The ctl's Exec messages by hand, against protobufjs (the reference): input encoded to the very
// bytes protobufjs writes, output read to the very object it gives, binary bytes exact; every
// other response (and any output of another shape) read by protobufjs itself.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeResponse, encodeInput } from '../../../src/ctl/exec-wire.js';
import { protocol } from '../../../src/protocol/load.js';

const exec = () => protocol().waypoint_entrypoint.control.v1.Control.service.Exec;
const sizes = [0, 1, 127, 128, 16_384, 65_536, 300_000];

describe('ctl exec messages', () => {
  it('encodes input as protobufjs does', () => {
    for (const n of sizes) {
      const data = randomBytes(n);
      expect(encodeInput(data).equals(Buffer.from(exec().requestSerialize({ input: data })))).toBe(true);
    }
  });

  it('reads output as protobufjs does, the data a view of the message', () => {
    for (const n of sizes) {
      for (const channel of ['STDOUT', 'STDERR'] as const) {
        const data = randomBytes(n);
        const wire = Buffer.from(exec().responseSerialize({ output: { channel, data } }));
        const ours = decodeResponse(wire);
        const theirs = exec().responseDeserialize(wire) as typeof ours;
        expect(ours.event).toBe('output');
        expect(ours.output!.channel).toBe(theirs.output!.channel);
        expect(Buffer.from(ours.output!.data).equals(data)).toBe(true);
        if (n > 0) expect(ours.output!.data.buffer).toBe(wire.buffer);
      }
    }
  });

  it('leaves every other response to protobufjs', () => {
    const serialize = (m: object) => Buffer.from(exec().responseSerialize(m as never));
    expect(decodeResponse(serialize({ exit_code: 3 }))).toMatchObject({ event: 'exit_code', exit_code: 3 });
    expect(decodeResponse(serialize({ started: { session_id: '7', instance_id: 'i', deployment_id: 'd' } }))).toMatchObject({
      event: 'started',
      started: { session_id: '7', instance_id: 'i' },
    });
    expect(decodeResponse(serialize({ error: { code: 5, message: 'no', exit_code: 127 } }))).toMatchObject({ event: 'error', error: { code: 5, exit_code: 127 } });
    // Channel UNKNOWN, and an output followed by an exit code (the last of a oneof wins).
    expect(decodeResponse(serialize({ output: { channel: 'UNKNOWN', data: Buffer.from('x') } }))).toMatchObject({ event: 'output', output: { channel: 'UNKNOWN' } });
    const both = Buffer.concat([serialize({ output: { channel: 'STDOUT', data: Buffer.from('x') } }), serialize({ exit_code: 4 })]);
    expect(decodeResponse(both)).toMatchObject({ event: 'exit_code', exit_code: 4 });
  });
});

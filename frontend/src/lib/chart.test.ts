import { describe, expect, it } from 'vitest';
import { OTHER_SERIES, buildChartData, niceTicks, seriesColor } from './chart';

const range = { from: new Date('2024-05-01T12:00:30Z'), to: new Date('2024-05-01T12:04:10Z') };

describe('buildChartData', () => {
  it('lays sparse buckets on a dense minute axis', () => {
    const data = buildChartData(
      [
        { start: '2024-05-01T12:01:00Z', name: 'signup', count: 3 },
        { start: '2024-05-01T12:03:00Z', name: 'signup', count: 1 },
        { start: '2024-05-01T12:03:00Z', name: 'login', count: 7 },
      ],
      range,
      'minute',
    );
    expect(data.slots.map((d) => d.toISOString().slice(11, 16))).toEqual(['12:00', '12:01', '12:02', '12:03', '12:04']);
    expect(data.series.map((s) => [s.name, s.total, s.counts])).toEqual([
      ['login', 7, [0, 0, 0, 7, 0]],
      ['signup', 4, [0, 3, 0, 1, 0]],
    ]);
    expect(data.max).toBe(8);
    expect(data.total).toBe(11);
  });

  it('ignores buckets outside the window and unparsable starts', () => {
    const data = buildChartData(
      [
        { start: '2024-05-01T11:00:00Z', name: 'a', count: 5 },
        { start: 'garbage', name: 'a', count: 5 },
        { start: '2024-05-01T12:02:00Z', name: 'a', count: 2 },
      ],
      range,
      'minute',
    );
    expect(data.total).toBe(2);
  });

  it('keeps only the filtered name', () => {
    const data = buildChartData(
      [
        { start: '2024-05-01T12:01:00Z', name: 'signup', count: 3 },
        { start: '2024-05-01T12:01:00Z', name: 'login', count: 7 },
      ],
      range,
      'minute',
      { nameFilter: 'signup' },
    );
    expect(data.series.map((s) => s.name)).toEqual(['signup']);
    expect(data.total).toBe(3);
  });

  it('folds the smallest names into Other', () => {
    const buckets = ['a', 'b', 'c', 'd'].map((name, i) => ({ start: '2024-05-01T12:00:00Z', name, count: 10 - i }));
    const data = buildChartData(buckets, range, 'minute', { maxSeries: 3 });
    expect(data.series.map((s) => [s.name, s.total])).toEqual([
      ['a', 10],
      ['b', 9],
      [OTHER_SERIES, 15],
    ]);
    expect(data.total).toBe(34);
    expect(data.nameCount).toBe(4);
  });

  it('is empty but well-formed without buckets', () => {
    const data = buildChartData([], { from: new Date('2024-05-01T00:00:00Z'), to: new Date('2024-05-02T00:00:00Z') }, 'hour');
    expect(data.slots).toHaveLength(25);
    expect(data.series).toEqual([]);
    expect(data.max).toBe(0);
    expect(data.total).toBe(0);
  });
});

describe('niceTicks', () => {
  it('picks round steps that reach the maximum', () => {
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(niceTicks(3)).toEqual([0, 1, 2, 3]);
    expect(niceTicks(8)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(9)).toEqual([0, 5, 10]);
    expect(niceTicks(1234)).toEqual([0, 500, 1000, 1500]);
  });
});

describe('seriesColor', () => {
  it('cycles a palette and greys out Other', () => {
    expect(seriesColor('a', 0)).toBe(seriesColor('b', 8));
    expect(seriesColor(OTHER_SERIES, 0)).toBe('#94a3b8');
  });
});

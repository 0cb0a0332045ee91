import { describe, expect, it } from 'vitest';
import { currentCursor, firstPage, hasPrevious, nextPage, previousPage } from './paging';

describe('cursor paging', () => {
  it('starts on page 0 without a cursor', () => {
    const s = firstPage();
    expect(s.page).toBe(0);
    expect(currentCursor(s)).toBeNull();
    expect(hasPrevious(s)).toBe(false);
  });

  it('goes forward with next_cursor and back through the remembered cursors', () => {
    let s = firstPage();
    s = nextPage(s, 'c1');
    s = nextPage(s, 'c2');
    expect(s.page).toBe(2);
    expect(currentCursor(s)).toBe('c2');
    s = previousPage(s);
    expect(currentCursor(s)).toBe('c1');
    s = previousPage(s);
    expect(currentCursor(s)).toBeNull();
    expect(previousPage(s)).toBe(s);
  });

  it('stays put when there is no next page', () => {
    const s = firstPage();
    expect(nextPage(s, null)).toBe(s);
  });

  it('forgets the pages ahead after going back and taking another cursor', () => {
    let s = nextPage(nextPage(firstPage(), 'c1'), 'c2');
    s = previousPage(s);
    s = nextPage(s, 'c2b');
    expect(s.cursors).toEqual([null, 'c1', 'c2b']);
    expect(s.page).toBe(2);
  });
});

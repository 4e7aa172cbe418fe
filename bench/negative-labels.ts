/**
 * What the negatives show, looked at by eye (negative-labels.json, whose "about" says how they were
 * chosen): the set is meant to hold neither a dog nor a person, but 15 of its report half's 500
 * photos show a person's face or a dog, so "every negative → neither" counts right answers as
 * mistakes. Routing is judged on the negatives that show neither a real face nor a dog ('body':
 * a person without a face, 'picture': a face that is no one's, count there), the rest apart.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export type NegativeLabel = 'none' | 'face' | 'body' | 'picture' | 'dog';

const labels: Record<string, NegativeLabel> = JSON.parse(readFileSync(path.join(import.meta.dirname, 'negative-labels.json'), 'utf8')).labels;

/** The label of a negative, by its path relative to the shared data directory (`negatives/<class>/<file>`). */
export const negativeLabel = (relative: string): NegativeLabel => labels[relative.split(path.sep).join('/')] ?? 'none';

/** Whether a negative shows neither a real person's face nor a dog: "neither" is the right answer. */
export const showsNeither = (relative: string): boolean => !['face', 'dog'].includes(negativeLabel(relative));

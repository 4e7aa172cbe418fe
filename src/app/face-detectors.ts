/**
 * The face detectors the app can use. A module of its own, with nothing to import, so the command
 * line can offer them as choices without loading a detector (or OpenCV.js) to print its help.
 */
export const FACE_DETECTORS = ['yunet', 'haar'] as const;
export type FaceDetectorName = (typeof FACE_DETECTORS)[number];

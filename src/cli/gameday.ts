import { loadHarness } from './harness.js'

type GamedayCommand = (args: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream) => Promise<number>

/** `understudy gameday`: runs the harness's game day; 2 when the harness is not there (the image). */
export async function gamedayCommand (args: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  const harness = await loadHarness<{ gamedayCommand: GamedayCommand }>('gameday/command', 'the game day', stderr)
  return harness ? harness.gamedayCommand(args, stdout, stderr) : 2
}
